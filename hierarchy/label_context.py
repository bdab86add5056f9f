"""What each prompt sees, cut to a token budget whatever the node's size.

Leaves: their most representative documents (then a seeded sample), truncated, plus keywords, plus
one short document from each of a few sibling nodes as contrast. Parents: their children's labels and
summaries, largest first. Every piece of document or model text passes through :func:`untrusted`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hierarchy.llm import messages_tokens
from hierarchy.prompting import PromptTemplate, untrusted
from hierarchy.tree import Document, Node, TopicTree


@dataclass(frozen=True)
class LabelRules:
    """Bounds a label and summary must keep; also shown to the model in the prompts."""

    label_min_chars: int = 2
    label_max_chars: int = 60
    label_max_words: int = 8
    summary_max_chars: int = 300

    def as_context(self) -> dict[str, int]:
        return {"label_max_chars": self.label_max_chars, "label_max_words": self.label_max_words, "summary_max_chars": self.summary_max_chars}


@dataclass(frozen=True)
class PromptBudget:
    """How much of a node goes into a prompt. ``max_prompt_tokens`` bounds every rendered prompt."""

    max_prompt_tokens: int = 2000
    max_documents: int = 8
    doc_chars: int = 700
    title_chars: int = 120
    contrast_siblings: int = 3
    contrast_chars: int = 240
    max_keywords: int = 10
    keyword_chars: int = 40
    child_summary_chars: int = 240
    min_doc_chars: int = 60


@dataclass
class Rendered:
    """A rendered prompt and the texts it showed, which the validator uses for grounding."""

    messages: list[dict[str, str]]
    own_text: str = ""
    contrast_text: str = ""

    @property
    def tokens(self) -> int:
        return messages_tokens(self.messages)


def keywords_of(node: Node, budget: PromptBudget) -> list[str]:
    return [untrusted(k, budget.keyword_chars) for k in node.keywords[: budget.max_keywords]]


def node_context(node: Node, budget: PromptBudget) -> dict[str, Any]:
    return {"id": node.id, "size": node.size, "depth": node.depth, "keywords": keywords_of(node, budget)}


def pick_documents(tree: TopicTree, node: Node, count: int, by_id: dict[str, Document]) -> list[Document]:
    """Representative documents first, then a sample seeded by the node id (stable between runs)."""
    chosen: list[Document] = []
    seen: set[str] = set()
    for doc_id in node.representative_ids:
        doc = by_id.get(doc_id)
        if doc is not None and doc_id not in seen:
            chosen.append(doc)
            seen.add(doc_id)
        if len(chosen) >= count:
            return chosen
    rest = [d for d in tree.documents_of(node.id) if d.id not in seen]
    if rest and len(chosen) < count:
        rng = random.Random(f"topicmap:{node.id}")
        chosen.extend(rng.sample(rest, min(count - len(chosen), len(rest))))
    return chosen


def _doc_view(doc: Document, text_chars: int, budget: PromptBudget) -> dict[str, str]:
    return {"id": untrusted(doc.id, 40), "title": untrusted(doc.title, budget.title_chars), "text": untrusted(doc.text, text_chars)}


def render_leaf(
    template: PromptTemplate,
    tree: TopicTree,
    node: Node,
    budget: PromptBudget,
    rules: LabelRules,
    by_id: dict[str, Document],
    with_contrast: bool = True,
) -> Rendered:
    docs = pick_documents(tree, node, budget.max_documents, by_id)
    contrast_nodes = tree.siblings(node.id)[: budget.contrast_siblings] if with_contrast else []
    contrast_docs = {s.id: pick_documents(tree, s, 1, by_id) for s in contrast_nodes}

    def build(n_docs: int, doc_chars: int, n_contrast: int) -> Rendered:
        shown = [_doc_view(d, doc_chars, budget) for d in docs[:n_docs]]
        contrast = [
            {"keywords": keywords_of(s, budget), "documents": [_doc_view(d, min(doc_chars, budget.contrast_chars), budget) for d in contrast_docs[s.id]]}
            for s in contrast_nodes[:n_contrast]
        ]
        context = {"node": node_context(node, budget), "documents": shown, "contrast": contrast, "rules": rules.as_context()}
        own = " ".join([*context["node"]["keywords"], *(f"{d['title']} {d['text']}" for d in shown)])
        other = " ".join(f"{' '.join(c['keywords'])} {' '.join(d['text'] for d in c['documents'])}" for c in contrast)
        return Rendered(template.render(context), own, other)

    return _fit(build, len(docs), budget, len(contrast_nodes))


def _fit(build: Callable[[int, int, int], Rendered], n_items: int, budget: PromptBudget, n_extra: int) -> Rendered:
    """Shrink until the prompt fits: shorter texts, then no contrast/extra, then fewer items."""
    chars = budget.doc_chars
    rendered = build(n_items, chars, n_extra)
    while rendered.tokens > budget.max_prompt_tokens and chars > budget.min_doc_chars:
        chars = max(budget.min_doc_chars, chars // 2)
        rendered = build(n_items, chars, n_extra)
    while rendered.tokens > budget.max_prompt_tokens and n_extra > 0:
        n_extra -= 1
        rendered = build(n_items, chars, n_extra)
    while rendered.tokens > budget.max_prompt_tokens and n_items > 1:
        n_items = max(1, n_items * 3 // 4)
        rendered = build(n_items, chars, n_extra)
    return rendered


def render_parent(template: PromptTemplate, tree: TopicTree, node: Node, budget: PromptBudget, rules: LabelRules) -> Rendered:
    children = sorted(tree.children(node.id), key=lambda c: -c.size)

    def build(n_children: int, summary_chars: int, _unused: int) -> Rendered:
        shown = [
            {"id": c.id, "label": untrusted(c.label, rules.label_max_chars * 2), "size": c.size, "summary": untrusted(c.summary, summary_chars) if summary_chars >= budget.min_doc_chars else ""}
            for c in children[:n_children]
        ]
        context = {"node": node_context(node, budget), "children": shown, "omitted": len(children) - n_children, "rules": rules.as_context()}
        return Rendered(template.render(context), " ".join(c["label"] for c in shown))

    child_budget = PromptBudget(**{**budget.__dict__, "doc_chars": budget.child_summary_chars})
    return _fit(build, len(children), child_budget, 0)


def render_distinct(
    template: PromptTemplate,
    parent: Node,
    siblings: list[Node],
    rename: list[str],
    budget: PromptBudget,
    rules: LabelRules,
) -> Rendered:
    def build(n_siblings: int, summary_chars: int, _unused: int) -> Rendered:
        # the ones to rename always stay in view; others are context and may be dropped
        keep = [s for s in siblings if s.id in rename] + [s for s in siblings if s.id not in rename][: max(0, n_siblings - len(rename))]
        keep.sort(key=lambda s: siblings.index(s))
        shown = [
            {
                "id": s.id,
                "label": untrusted(s.label, rules.label_max_chars * 2).replace(";", ","),
                "keywords": [k.replace(";", ",") for k in keywords_of(s, budget)],
                "summary": untrusted(s.summary, summary_chars) if summary_chars >= budget.min_doc_chars else "",
                "rename": s.id in rename,
            }
            for s in keep
        ]
        context = {"parent": node_context(parent, budget), "siblings": shown, "rename": rename, "rules": rules.as_context()}
        return Rendered(template.render(context))

    sib_budget = PromptBudget(**{**budget.__dict__, "doc_chars": budget.child_summary_chars})
    return _fit(build, len(siblings), sib_budget, 0)

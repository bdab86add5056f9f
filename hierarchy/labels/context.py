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

from topicmap.hierarchy.llm.prompting import PromptTemplate, messages_tokens, untrusted
from topicmap.hierarchy.tree.topic_tree import Document, Node, TopicTree


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
    child_labels: tuple[str, ...] = ()  # a parent's children, which its label must neither copy nor join
    documents: tuple[str, ...] = ()  # a leaf's shown documents (title + text), for the breadth check
    child_summaries: tuple[str, ...] = ()  # a parent's children's summaries, which its summary must not repeat

    @property
    def tokens(self) -> int:
        return messages_tokens(self.messages)


def pick_documents(tree: TopicTree, node: Node, count: int, by_id: dict[str, Document]) -> list[Document]:
    """Representative documents first, then a sample seeded by the node id (stable between runs)."""
    chosen: list[Document] = []
    seen: set[str] = set()
    for doc_id in node.representative_ids:
        doc = by_id.get(doc_id)
        if doc is not None and doc_id not in seen and (doc.text or doc.title):
            chosen.append(doc)
            seen.add(doc_id)
        if len(chosen) >= count:
            return chosen
    if len(chosen) >= count:
        return chosen
    if tree.store.lazy:  # a sidecar tree: read a seeded sample of the node's rows, not all of them
        rows = tree.document_rows(node.id)
        rng = random.Random(f"topicmap:{node.id}")
        picked = sorted(rng.sample(range(len(rows)), min(len(rows), 4 * count + len(seen))))
        rest = [d for d in tree.store.rows([rows[k] for k in picked]) if d.id not in seen and (d.text or d.title)]
        chosen.extend(rest[: count - len(chosen)])
        return chosen
    rest = [d for d in tree.documents_of(node.id) if d.id not in seen and (d.text or d.title)]  # trees built --no-text have none
    if rest:
        rng = random.Random(f"topicmap:{node.id}")
        chosen.extend(rng.sample(rest, min(count - len(chosen), len(rest))))
    return chosen


class PromptBuilder:
    """Renders the three prompts for the nodes of one tree, within the budget.

    Made once per run: it indexes documents by id and remembers each node's cleaned keywords, which
    every sibling's contrast section shows again.
    """

    def __init__(self, tree: TopicTree, budget: PromptBudget | None = None, rules: LabelRules | None = None) -> None:
        self.tree = tree
        self.budget = budget or PromptBudget()
        self.rules = rules or LabelRules()
        store = tree.store
        if store.lazy:  # a sidecar tree: only the representatives are read
            found = store.find_ids(doc_id for n in tree.iter_nodes() for doc_id in n.representative_ids)
            self._by_id = {d.id: d for d in store.rows(sorted(found.values()))}
        else:
            self._by_id = {d.id: d for d in tree.documents}
        self._keywords: dict[str, list[str]] = {}

    def keywords(self, node: Node) -> list[str]:
        """Cleaned keywords; node keywords do not change during a run (only labels do)."""
        found = self._keywords.get(node.id)
        if found is None:
            found = [untrusted(k, self.budget.keyword_chars) for k in node.keywords[: self.budget.max_keywords]]
            self._keywords[node.id] = found
        return found

    def node_view(self, node: Node) -> dict[str, Any]:
        return {"id": node.id, "size": node.size, "depth": node.depth, "keywords": self.keywords(node)}

    def _doc_view(self, doc: Document, text_chars: int) -> dict[str, str]:
        return {"id": untrusted(doc.id, 40), "title": untrusted(doc.title, self.budget.title_chars), "text": untrusted(doc.text, text_chars)}

    def leaf(self, template: PromptTemplate, node: Node, with_contrast: bool = True) -> Rendered:
        budget = self.budget
        docs = pick_documents(self.tree, node, budget.max_documents, self._by_id)
        contrast_nodes = self.tree.siblings(node.id)[: budget.contrast_siblings] if with_contrast else []
        contrast_docs = {s.id: pick_documents(self.tree, s, 1, self._by_id) for s in contrast_nodes}

        def build(n_docs: int, doc_chars: int, n_contrast: int) -> Rendered:
            shown = [self._doc_view(d, doc_chars) for d in docs[:n_docs]]
            contrast_chars = min(doc_chars, budget.contrast_chars)
            contrast = [
                {"keywords": self.keywords(s), "documents": [self._doc_view(d, contrast_chars) for d in contrast_docs[s.id]]}
                for s in contrast_nodes[:n_contrast]
            ]
            context = {"node": self.node_view(node), "documents": shown, "contrast": contrast, "rules": self.rules.as_context()}
            texts = tuple(f"{d['title']} {d['text']}" for d in shown)
            own = " ".join([*context["node"]["keywords"], *texts])
            other = " ".join(f"{' '.join(c['keywords'])} {' '.join(d['text'] for d in c['documents'])}" for c in contrast)
            return Rendered(template.render(context), own, other, documents=texts)

        return _fit(build, len(docs), budget.doc_chars, len(contrast_nodes), budget)

    def parent(self, template: PromptTemplate, node: Node) -> Rendered:
        budget, rules = self.budget, self.rules
        children = sorted(self.tree.children(node.id), key=lambda c: -c.size)

        def build(n_children: int, summary_chars: int, _unused: int) -> Rendered:
            shown = [
                {
                    "id": c.id,
                    "label": untrusted(c.label, rules.label_max_chars * 2),
                    "size": c.size,
                    "share": _share(c.size, node.size),
                    "summary": untrusted(c.summary, summary_chars) if summary_chars >= budget.min_doc_chars else "",
                }
                for c in children[:n_children]
            ]
            context = {"node": self.node_view(node), "children": shown, "omitted": len(children) - n_children, "rules": rules.as_context()}
            return Rendered(template.render(context), " ".join(c["label"] for c in shown), child_labels=tuple(c.label for c in children), child_summaries=tuple(c.summary for c in children))

        return _fit(build, len(children), budget.child_summary_chars, 0, budget)

    def distinct(self, template: PromptTemplate, parent: Node, siblings: list[Node], rename: list[str]) -> Rendered:
        budget, rules = self.budget, self.rules
        position = {s.id: i for i, s in enumerate(siblings)}

        def build(n_siblings: int, summary_chars: int, _unused: int) -> Rendered:
            # the ones to rename always stay in view; the others are context and may be dropped
            keep = [s for s in siblings if s.id in rename] + [s for s in siblings if s.id not in rename][: max(0, n_siblings - len(rename))]
            keep.sort(key=lambda s: position[s.id])
            shown = [
                {
                    "id": s.id,
                    "label": untrusted(s.label, rules.label_max_chars * 2).replace(";", ","),
                    "keywords": [k.replace(";", ",") for k in self.keywords(s)],
                    "summary": untrusted(s.summary, summary_chars) if summary_chars >= budget.min_doc_chars else "",
                    "rename": s.id in rename,
                }
                for s in keep
            ]
            context = {"parent": self.node_view(parent), "siblings": shown, "rename": rename, "rules": rules.as_context()}
            return Rendered(template.render(context))

        return _fit(build, len(siblings), budget.child_summary_chars, 0, budget)


def _share(part: int, whole: int) -> str:
    """``"37%"``; a sliver is ``"<1%"`` rather than a misleading 0%."""
    if whole <= 0:
        return "?"
    percent = 100 * part / whole
    return "<1%" if 0 < percent < 1 else f"{round(percent)}%"


def _fit(build: Callable[[int, int, int], Rendered], n_items: int, chars: int, n_extra: int, budget: PromptBudget) -> Rendered:
    """Shrink until the prompt fits: shorter texts, then no contrast, then fewer items."""
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

"""Does a proposed name point at its own topic? Checked while labelling, by the rule evaluation measures.

A name is faithful when, embedded with the tree's own embedder, it is closer (cosine) to its node's
centroid than to any sibling's: a reader who sees the name next to its siblings' names would pick
this node for its documents. Small models often give a correct but too general name ("Sports" for a
football leaf beside a tennis leaf); the check turns that into a stated rejection the model can act
on ("it reads closer to the neighbouring topic about champion, olympic, roddick"). ``evaluate``'s
label fidelity uses the same margin, so what the labeller enforces is what the report counts.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from topicmap.hierarchy.labels.validate import LabelAnswer, SoftViolation
from topicmap.hierarchy.tree.topic_tree import ROOT_ID, Node, TopicTree

SIBLING_KEYWORDS_SHOWN = 4


class CloserToSibling(SoftViolation):
    """The name is nearer a sibling's documents than its own. Ranked by margin: the least bad is kept last."""

    def __init__(self, message: str, answer: LabelAnswer, margin: float) -> None:
        super().__init__(message, answer)
        self.rank = margin


@dataclass(frozen=True)
class Margin:
    own: float  # cosine of the name to its own node's centroid
    best: float  # the highest cosine to a sibling's centroid
    sibling: str  # that sibling's id

    @property
    def value(self) -> float:
        return self.own - self.best

    @property
    def faithful(self) -> bool:
        return self.own > self.best


def sibling_margin(vector: np.ndarray, node: Node, siblings: Sequence[Node]) -> Margin | None:
    """How much closer ``vector`` is to ``node``'s centroid than to the closest sibling's; None without siblings."""
    scored = [(float(vector @ s.centroid), s.id) for s in siblings if s.centroid is not None]
    if not scored or node.centroid is None:
        return None
    best, best_id = max(scored)
    return Margin(float(vector @ node.centroid), best, best_id)


@dataclass
class FidelityCheck:
    """Rejects (softly) a name that is closer to a sibling's documents than to its own node's."""

    embed: Callable[[list[str]], np.ndarray]  # unit rows in the space of the tree's centroids
    embedder: str  # its name, recorded with the run

    def check(self, tree: TopicTree, node: Node, answer: LabelAnswer) -> None:
        if node.id == ROOT_ID:
            return
        siblings = tree.siblings(node.id)
        margin = sibling_margin(self.embed([answer.label])[0], node, siblings)
        if margin is None or margin.faithful:
            return
        other = tree.node(margin.sibling)
        about = ", ".join(other.keywords[:SIBLING_KEYWORDS_SHOWN]) or other.label
        own = ", ".join(node.keywords[:SIBLING_KEYWORDS_SHOWN])
        raise CloserToSibling(
            f"the label {answer.label!r} reads closer to a neighbouring topic (about {about}) than to this topic's own documents "
            f"(similarity {margin.best:.2f} vs {margin.own:.2f}); name what sets these documents apart"
            + (f" (their keywords: {own})" if own else ""),
            answer,
            margin.value,
        )


def fidelity_check_for(tree: TopicTree, wanted: bool | None) -> tuple[FidelityCheck | None, str]:
    """The check for this tree, or None and why not.

    ``wanted=None`` (the default) checks when the tree's embedder runs on this machine (a
    sentence-transformers model that is installed); ``True`` also accepts a remote embedder (a paid
    request per name) and fails loudly when none can be used; ``False`` never checks.
    """
    from topicmap.hierarchy.inputs.embed import SentenceTransformerEmbedder
    from topicmap.hierarchy.base.errors import TopicmapError
    from topicmap.hierarchy.tree.embedder import embed_texts, resolve_tree_embedder

    if wanted is False:
        return None, "off (--no-check-fidelity)"
    try:
        embedder = resolve_tree_embedder(tree)
    except TopicmapError as exc:
        if wanted:
            raise TopicmapError(f"--check-fidelity needs the tree's embedder: {exc}") from None
        return None, f"not checked: {exc}"
    local = isinstance(embedder, SentenceTransformerEmbedder) and importlib.util.find_spec("sentence_transformers") is not None
    if wanted is None and not local:
        return None, f"not checked: {embedder.name} is not a local model (ask for it with --check-fidelity)"

    def embed(texts: list[str]) -> np.ndarray:
        return embed_texts(texts, embedder, tree, None, "labels")

    return FidelityCheck(embed, embedder.name), f"checked with {embedder.name}"

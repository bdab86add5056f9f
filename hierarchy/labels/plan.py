"""Planning a labelling run: which nodes it looks at, in what order, and (a dry run) what it would cost.

The dry run walks the same plan as a real run (:class:`topicmap.hierarchy.labels.label.TreeLabeler`)
over a copy of the tree, with :class:`Estimate` in place of the model: every request a real run would
send is counted with its prompt's tokens, and its answer is unknown, so the prompts that would show it
(the parent's, the sibling pass) are unknown too. Answers already cached are applied, as a real run
would, so their parents are estimated with the labels they will see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from topicmap.hierarchy.labels.ask import Outcome, Validate
from topicmap.hierarchy.labels.context import Rendered
from topicmap.hierarchy.tree.topic_tree import TopicTree

if TYPE_CHECKING:
    from topicmap.hierarchy.labels.label import LabelOptions, RunReport

EST_COMPLETION_TOKENS = 60  # a label + one-sentence summary as JSON, for estimates


def affected(tree: TopicTree, targets: frozenset[str] | None, with_ancestors: bool = True) -> set[str]:
    """Targets plus (``with_ancestors``) every ancestor, whose label inputs may change with them."""
    if targets is None:
        return {n.id for n in tree.iter_nodes()}
    if not with_ancestors:
        return set(targets)
    out: set[str] = set()
    for node_id in targets:
        out.update(n.id for n in tree.path(node_id))
    return out


def planned_order(tree: TopicTree, options: LabelOptions) -> list[str]:
    """The nodes a run looks at, children before their parents (a parent's prompt shows its children's labels)."""
    todo = affected(tree, options.targets, options.with_ancestors)
    return [n.id for n in tree.iter_bottom_up() if n.id in todo]


class Estimate:
    """The answers of a dry run: none. Each request is counted in ``report`` with its prompt's tokens
    and a typical answer's, as one call; its outcome is unknown."""

    sends = False

    def __init__(self, report: RunReport) -> None:
        self.report = report

    def requests(self) -> int:
        return 0

    async def ask(self, rendered: Rendered, validate: Validate, fallback: Callable[[], Rendered] | None) -> Outcome:
        tokens = rendered.tokens
        self.report.calls += 1
        self.report.prompt_tokens += tokens
        self.report.completion_tokens += EST_COMPLETION_TOKENS
        self.report.call_prompt_tokens.append(tokens)
        return Outcome(calls=1, known=False)


def label_copy(tree: TopicTree) -> TopicTree:
    """A tree whose labels a dry run may change; documents and vectors are shared, not copied."""
    nodes = [replace(n, label_meta=replace(n.label_meta, extra=n.label_meta.extra.copy())) for n in tree.iter_nodes()]
    return TopicTree(nodes, tree.store, tree.manifest)  # a sidecar tree's store stays lazy

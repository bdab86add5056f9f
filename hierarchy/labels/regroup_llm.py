"""The LLM side of regrouping: name the leaves that have no LLM name yet, then name each new level as it forms.

Everything goes through the label layer (:func:`topicmap.hierarchy.labels.label.label_tree`): the same prompts,
validation, retries, sibling pass and answer cache. A rerun of the same regrouping finds every answer
in the cache (the grouping is deterministic and prompts carry no node ids), so it makes no requests,
and an interrupted run resumes from the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from typing import Protocol

from topicmap.hierarchy.base.errors import TopicmapError
from topicmap.hierarchy.labels.label import LabelOptions, RunReport, label_tree
from topicmap.hierarchy.llm.client import LLMConfig
from topicmap.hierarchy.llm.cache import AnswerCache
from topicmap.hierarchy.tree.topic_tree import TopicTree

class ProgressBar(Protocol):
    def update(self, report: RunReport) -> None: ...
    def close(self) -> None: ...


def unnamed_leaves(tree: TopicTree) -> frozenset[str]:
    """Leaves without an LLM label (keyword labels): the ones to name before regrouping."""
    return frozenset(leaf.id for leaf in tree.leaves() if leaf.label_meta.labeler != "llm")


class LLMNamer:
    """Names the nodes it is given with the label layer; keeps every run's report for the totals."""

    def __init__(self, config: LLMConfig, options: LabelOptions, cache: AnswerCache, progress: Callable[[], ProgressBar] | None = None) -> None:
        self.config = config
        self.options = options
        self.cache = cache
        self.progress = progress  # a new bar for each run (leaves, each level, the root)
        self.reports: list[RunReport] = []

    def __call__(self, tree: TopicTree, node_ids: list[str]) -> None:
        if not node_ids:
            return
        options = replace(self.options, targets=frozenset(node_ids), with_ancestors=False)
        bar = self.progress() if self.progress is not None else None
        try:
            report = label_tree(tree, self.config, options, self.cache, progress=bar.update if bar is not None else None)
        finally:
            if bar is not None:
                bar.close()
        self.reports.append(report)
        if report.aborted:
            raise TopicmapError(
                f"{report.aborted}; stopped while naming {len(node_ids)} nodes; every answer received is cached, "
                "so running the same command again resumes without asking for them again"
            )

    def name_leaves(self, tree: TopicTree) -> int:
        """Name the leaves that have no LLM label, in the tree's present structure; returns how many were asked."""
        todo = unnamed_leaves(tree)
        self(tree, sorted(todo))
        return len(todo)

    def total(self) -> RunReport:
        """All runs added up (counts and tokens), as one report for the manifest and the summary."""
        first = self.reports[0] if self.reports else RunReport(self.config.model, [])
        total = RunReport(first.model, list(first.prompts))
        for report in self.reports:
            for f in fields(RunReport):
                value = getattr(report, f.name)
                if isinstance(value, bool) or f.name in ("model", "prompts", "dry_run", "aborted"):
                    continue
                if isinstance(value, (int, float)):
                    setattr(total, f.name, getattr(total, f.name) + value)
                elif isinstance(value, list):
                    getattr(total, f.name).extend(value)
        return total


__all__ = ["LLMNamer", "unnamed_leaves"]

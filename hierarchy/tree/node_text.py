"""What a reader of labels sees of a node: its label and summary, and for a parent its subtopics' keywords.

The navigators of ``evaluate`` (:mod:`topicmap.hierarchy.quality.navigate`) read exactly this text, and the
build fits every node's keyword list to it (:mod:`topicmap.hierarchy.builder.routed_keywords`), so it lives
below both.
"""

from __future__ import annotations

from collections.abc import Sequence

from topicmap.hierarchy.tree.topic_tree import Node

SUBTOPIC_KEYWORDS = 8  # per child, in a keyword-labelled parent's summary


def node_text(node: Node, keywords_as_summary: bool = True, subtopics: Sequence[Node] = ()) -> str:
    """What a navigator reads about a child: its label and summary, and for a parent its subtopics.

    A keyword-labelled node has no summary; its keyword list is then the keyword labeller's summary.
    A parent, however it was labelled, lists the top keywords of each of its ``subtopics`` (its
    children) after its summary, so written and keyword labels are read on equal terms: the same
    extra text on both sides, and the difference between them is the labels and summaries alone.
    """
    summary = node.summary.strip()
    if keywords_as_summary:
        if not summary and node.keywords:
            summary = ", ".join(node.keywords)
        described = [c for c in subtopics if c.keywords]
        if summary and described:
            summary += "; subtopics: " + "; ".join(", ".join(c.keywords[:SUBTOPIC_KEYWORDS]) for c in described)
    return f"{node.label}: {summary}" if summary else node.label

"""The details panel's contents: breadcrumbs, the selected node's card, pages of its documents.

Plain functions of (index, navigation state); the layout fills the first view with them and the
callbacks (``topicmap.viz.callbacks``) every later one. Untrusted text goes in as children, which
React escapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from dash import html

from topicmap.hierarchy.tree.topic_tree import ROOT_ID, Document
from topicmap.viz.ids import PAGE_SIZE, Ids, goto_button
from topicmap.viz.index import TreeIndex, shorten

Nav = dict[str, str]
FIRST_VIEW: Nav = {"view": ROOT_ID, "selected": ROOT_ID}
FULL_TEXT_CHARS = 20_000


def clean_nav(index: TreeIndex, nav: Mapping[str, Any] | None) -> Nav:
    """A nav state whose ids exist (requests come from the browser: never trust them)."""
    view = nav.get("view") if isinstance(nav, Mapping) else None
    selected = nav.get("selected") if isinstance(nav, Mapping) else None
    view = view if isinstance(view, str) and view in index else ROOT_ID
    selected = selected if isinstance(selected, str) and selected in index else view
    return {"view": view, "selected": selected}


def breadcrumbs(index: TreeIndex, nav: Mapping[str, Any] | None) -> list[Any]:
    """Root › … › selected, each a button that jumps there."""
    state = clean_nav(index, nav)
    out: list[Any] = []
    for k, node_id in enumerate(index.path_ids(state["selected"])):
        if k:
            out.append(html.Span("›", className="tm-sep"))
        label = shorten(index.labels[index.pos[node_id]], 40)
        out.append(goto_button(node_id, label, f"crumb-{k}", "tm-crumb"))
    return out


def label_provenance(index: TreeIndex, node_id: str) -> str:
    """How the label was made, in one line: keyword labeler, or model + prompt version."""
    meta = index.node(node_id).label_meta
    if meta.labeler == "llm" or meta.model:
        text = f"Labelled by model {meta.model or '(unknown)'}"
        if meta.prompt:
            text += f" with prompt {meta.prompt}"
    else:
        text = f"Labelled by {meta.labeler}"
        if meta.labeler == "keywords":
            text = "Labelled from keywords (c-TF-IDF), no LLM"
    if meta.status != "ok":
        text += f" — status {meta.status}"
        if meta.error:
            text += f": {shorten(meta.error, 200)}"
    return text


def node_details(index: TreeIndex, nav: Mapping[str, Any] | None) -> list[Any]:
    """Label, summary, keywords, size, label provenance and children of the selected node."""
    state = clean_nav(index, nav)
    node_id = state["selected"]
    i = index.pos[node_id]
    node = index.nodes[i]
    total = max(int(index.size[0]), 1)
    out: list[Any] = [
        html.H2(index.labels[i], className="tm-node-label", id="node-label"),
        html.Div(
            className="tm-meta",
            children=[
                html.Span(f"{node.size:,} documents ({100 * node.size / total:.1f}%)"),
                html.Span(f"id {node_id} · depth {node.depth}", className="tm-muted"),
            ],
        ),
    ]
    if node.summary:
        out.append(html.P(node.summary, className="tm-summary"))
    if node.keywords:
        out.append(html.Div([html.Span(k, className="tm-keyword") for k in node.keywords[:12]], className="tm-keywords"))
    out.append(html.P(label_provenance(index, node_id), className="tm-provenance tm-muted"))
    children = index.children_pos[i]
    if children:
        out.append(html.H3(f"Subtopics ({len(children)})", className="tm-subhead"))
        items = [
            html.Li([goto_button(index.ids[c], shorten(index.labels[c], 60), f"child-{c}"), html.Span(f" {int(index.size[c]):,}", className="tm-muted")])
            for c in children[:30]
        ]
        if len(children) > 30:
            items.append(html.Li(f"… and {len(children) - 30} more", className="tm-muted"))
        out.append(html.Ul(items, className="tm-children"))
    return out


def page_number(index: TreeIndex, trigger: Any, nav: Mapping[str, Any] | None, page: Any) -> int:
    """Prev/next move through the selected node's documents; a new selection starts at page 0."""
    if trigger == Ids.NAV or not isinstance(page, int):
        return 0
    pages = n_pages(index.doc_count(clean_nav(index, nav)["selected"]))
    if trigger == Ids.NEXT:
        return min(page + 1, pages - 1)
    if trigger == Ids.PREV:
        return max(page - 1, 0)
    return min(max(page, 0), pages - 1)


def n_pages(n_docs: int) -> int:
    return max(1, -(-n_docs // PAGE_SIZE))


def document_card(index: TreeIndex, row: int, representative: bool = False, doc: Document | None = None) -> html.Details:
    """Title and snippet; expands to the full text. Plain children: the text is escaped by React."""
    doc = doc or index.document(row)
    text = doc.text if len(doc.text) <= FULL_TEXT_CHARS else doc.text[:FULL_TEXT_CHARS] + " …(truncated)"
    summary: list[Any] = [html.B(shorten(doc.title, 100) if doc.title else doc.id)]
    if representative:
        summary.append(html.Span("representative", className="tm-badge"))
    summary.append(html.Span(" — " + index.snippet(row, doc), className="tm-snippet"))
    return html.Details(
        className="tm-doc",
        children=[
            html.Summary(summary),
            html.P(text, className="tm-doc-text"),
            html.Div(f"id {doc.id} · topic {doc.leaf}", className="tm-muted"),
        ],
    )


def document_page(index: TreeIndex, nav: Mapping[str, Any] | None, page: Any) -> tuple[list[Any], str, bool, bool]:
    """One page of the selected node's documents, paged on the server (only this page is sent).

    The node's representative documents come first (they say most about the topic), then the rest
    in tree order.
    """
    node_id = clean_nav(index, nav)["selected"]
    rows = index.node_doc_rows(node_id)
    reps = index.representative_rows(node_id)
    pages = n_pages(len(rows))
    page = min(max(page if isinstance(page, int) else 0, 0), pages - 1)
    ordered = _reps_first(index, node_id, rows, reps)
    shown = ordered[page * PAGE_SIZE : (page + 1) * PAGE_SIZE].tolist()
    rep_set = set(reps)
    docs = index.documents(shown)  # this page only, read in one go
    cards: list[Any] = [document_card(index, r, r in rep_set, d) for r, d in zip(shown, docs)] or [html.P("No documents.", className="tm-muted")]
    info = f"page {page + 1} of {pages} · {len(rows):,} documents"
    return cards, info, page <= 0, page >= pages - 1


def _reps_first(index: TreeIndex, node_id: str, rows: np.ndarray, reps: list[int]) -> np.ndarray:
    """``rows`` reordered: representatives first, then the others in tree order (O(n) masking)."""
    if not reps:
        return rows
    keep = np.ones(len(rows), dtype=bool)
    keep[index.doc_rank[reps] - index.doc_lo[index.pos[node_id]]] = False
    return np.concatenate([np.array(reps, dtype=rows.dtype), rows[keep]])

"""The tree file: versioned JSON with a checked-in JSON Schema, written atomically (:mod:`topicmap.hierarchy.files.safe_write`).

Our own schema (``schema/tree-v2.schema.json``), not networkx's ``node_link_data``, whose layout
changes between networkx versions. Version 2 added document times (``documents[].time``, seconds since
the epoch, UTC) and ``manifest.time`` (how the time column was read); version 1 files still load,
checked against their own schema (``tree-v1.schema.json``), as trees without times. Files are always
written as the current version. ``nodes`` is a flat list that maps 1:1 onto plotly's sunburst
``ids/parents/values/labels`` (the root's parent is ``""``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from topicmap.hierarchy.base import jsontext
from topicmap.hierarchy.base.errors import TreeFileError
from topicmap.hierarchy.base.safe_text import one_line, strip_controls
from topicmap.hierarchy.files.safe_write import write_chunks_atomic
from topicmap.hierarchy.files.spreadsheet import csv_text
from topicmap.hierarchy.tree.topic_tree import Document, LabelMeta, Node, TopicTree

SCHEMA_VERSION = 2
NESTED_VERSION = 1  # the nested export's own version: unchanged by the tree file's version 2
READABLE_VERSIONS = (1, 2)  # every version this topicmap loads; each has its schema/tree-vN.schema.json
FORMAT_NAME = "topicmap-tree"
# A document's metadata is the file's fourth level (file, documents, document, metadata), so the
# metadata of any row read within jsontext.MAX_DEPTH fits in a file of this depth, with room to spare.
MAX_FILE_DEPTH = jsontext.MAX_DEPTH + 8


def load_schema(version: int = SCHEMA_VERSION) -> dict[str, Any]:
    """The JSON Schema of tree files of ``version`` (default: the version this topicmap writes)."""
    text = resources.files("topicmap.hierarchy.tree").joinpath(f"schema/tree-v{version}.schema.json").read_text("utf-8")
    return json.loads(text)


# -- encoding ------------------------------------------------------------------------------
def encode_vector(vector: np.ndarray | None) -> str | None:
    if vector is None:
        return None
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: str | None) -> np.ndarray | None:
    if text is None:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"the centroid is not base64 ({exc})") from None
    if len(raw) % 4:
        raise ValueError(f"the centroid has {len(raw)} bytes, not a whole number of float32 values")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def node_to_dict(node: Node) -> dict[str, Any]:
    return {
        "id": node.id,
        "parent": node.parent if node.parent is not None else "",
        "depth": node.depth,
        "size": node.size,
        "label": node.label,
        "summary": node.summary,
        "keywords": list(node.keywords),
        "keyword_scores": [round(float(s), 6) for s in node.keyword_scores],
        "representative_ids": list(node.representative_ids),
        "centroid": encode_vector(node.centroid),
        "label_meta": node.label_meta.to_dict(),
        "extra": dict(node.extra),
    }


def node_from_dict(data: dict[str, Any]) -> Node:
    """A node as stored; its label, summary and keywords lose control characters (a tree file is untrusted)."""
    return Node(
        id=data["id"],
        parent=data["parent"] or None,
        depth=data["depth"],
        size=data["size"],
        label=one_line(data.get("label", "")),
        summary=strip_controls(data.get("summary", "")),
        keywords=[one_line(k) for k in data.get("keywords", [])],
        keyword_scores=[float(s) for s in data.get("keyword_scores", [])],
        representative_ids=list(data.get("representative_ids", [])),
        centroid=decode_vector(data.get("centroid")),
        label_meta=LabelMeta.from_dict(data.get("label_meta", {})),
        extra=dict(data.get("extra", {})),
    )


def document_to_dict(doc: Document) -> dict[str, Any]:
    out: dict[str, Any] = {"id": doc.id, "leaf": doc.leaf, "x": round(doc.x, 5), "y": round(doc.y, 5)}
    if doc.title:
        out["title"] = doc.title
    if doc.text:
        out["text"] = doc.text
    if doc.metadata:
        out["metadata"] = doc.metadata
    if doc.time is not None:
        out["time"] = doc.time
    return out


def document_from_dict(data: dict[str, Any]) -> Document:
    return Document(
        id=data["id"],
        leaf=data["leaf"],
        text=data.get("text", ""),
        title=data.get("title", ""),
        x=float(data.get("x", 0.0)),
        y=float(data.get("y", 0.0)),
        metadata=dict(data.get("metadata", {})),
        time=_finite_time(data.get("time")),
    )


def _finite_time(value: Any) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value):
        raise ValueError(f"document time {value!r} is not a finite number of seconds")
    return float(value)


def tree_to_dict(tree: TopicTree) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "manifest": tree.manifest,
        "nodes": [node_to_dict(n) for n in tree.iter_nodes()],
        "documents": [document_to_dict(d) for d in tree.documents],
    }


def tree_from_dict(data: Any, source: str = "tree file") -> TopicTree:
    """Validate against the schema and the tree invariants; never returns a half-loaded tree."""
    if not isinstance(data, dict):
        raise TreeFileError(f"{source}: not a topicmap tree (top level is not a JSON object)")
    version = data.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise TreeFileError(
            f"{source}: schema_version {version} is newer than this topicmap understands "
            f"({SCHEMA_VERSION}); upgrade topicmap to read it"
        )
    import jsonschema  # a tenth of a second to import: only when a file is read, not for --help or a missing file

    # an older file is checked against its own version's schema (a file without a readable version
    # against the current one, which then names what is wrong)
    validator = jsonschema.Draft202012Validator(load_schema(version if version in READABLE_VERSIONS else SCHEMA_VERSION))
    error = next(iter(sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise TreeFileError(f"{source}: invalid at {where}: {_short(error.message)}")
    try:
        nodes = [_node_from_file(n) for n in data["nodes"]]
        check_centroids(nodes, data.get("manifest", {}))
        documents = [document_from_dict(d) for d in data["documents"]]
        manifest = data.get("manifest", {})
        if version == 1:  # times arrived with version 2: whatever an edited old file holds is not one
            for doc in documents:
                doc.time = None
            manifest = {k: v for k, v in manifest.items() if k != "time"}
        if not documents:
            check_sizes_without_documents(nodes)
        tree = TopicTree(nodes, documents, manifest=manifest)
    except TreeFileError as exc:
        raise TreeFileError(f"{source}: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise TreeFileError(f"{source}: {exc}") from None
    return tree


def _node_from_file(data: dict[str, Any]) -> Node:
    try:
        return node_from_dict(data)
    except (ValueError, TypeError) as exc:  # e.g. a centroid that is not base64 of float32 values
        raise TreeFileError(f"node {data.get('id')!r}: {exc}") from None


def check_centroids(nodes: list[Node], manifest: dict[str, Any]) -> None:
    """Centroids on every node or on none, all of one dimension (the embedder's, when recorded) and finite.

    Checked on load so that ``evaluate`` and ``assign`` never meet a centroid they cannot multiply.
    """
    centroids = [(n.id, n.centroid) for n in nodes if n.centroid is not None]
    if not centroids:
        return  # a tree without centroids can be shown and labelled; assign and evaluate say what they miss
    if len(centroids) != len(nodes):
        missing = next(n.id for n in nodes if n.centroid is None)
        raise TreeFileError(f"node {missing!r} has no centroid but node {centroids[0][0]!r} has one; every node needs one (or none does)")
    embedder = manifest.get("embedder")
    recorded = embedder.get("dimensions") if isinstance(embedder, dict) else None
    if isinstance(recorded, bool) or not isinstance(recorded, int) or recorded < 1:
        recorded = None
    first_id, first = centroids[0]
    expected = recorded if recorded is not None else first.size
    for node_id, vector in centroids:
        if vector.size == 0:
            raise TreeFileError(f"node {node_id!r} has an empty centroid")
        if vector.size != expected:
            reference = f"the manifest's embedder has {expected}" if recorded is not None else f"node {first_id!r} has {expected}"
            raise TreeFileError(f"node {node_id!r} has a centroid of {vector.size} dimensions, but {reference}")
        if not np.isfinite(vector).all():
            raise TreeFileError(f"node {node_id!r} has NaN or infinite values in its centroid")


def check_sizes_without_documents(nodes: list[Node]) -> None:
    """A file whose documents list is empty must not count documents under its nodes (a cut or emptied file).

    :class:`TopicTree` compares sizes with the documents only when there are some, so that trees held in
    memory without documents stay usable; a file has no such excuse.
    """
    counted = next((n for n in nodes if n.size != 0), None)
    if counted is not None:
        raise TreeFileError(
            f"the documents list is empty, but node {counted.id!r} counts {counted.size:,} documents; "
            "the file was cut or edited: restore its documents or rebuild the tree"
        )


def _short(message: str, limit: int = 160) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


# -- files ---------------------------------------------------------------------------------
def load_tree(path: str | os.PathLike[str]) -> TopicTree:
    path = Path(path)
    if not path.exists():
        raise TreeFileError(f"{path}: no such tree file")
    if path.is_dir():
        raise TreeFileError(f"{path}: is a directory, expected a tree JSON file")
    try:
        data = jsontext.loads(path.read_bytes(), max_depth=MAX_FILE_DEPTH)
    except jsontext.JSONTooDeep as exc:
        raise TreeFileError(f"{path}: not a topicmap tree file: {exc.msg}") from None
    except json.JSONDecodeError as exc:
        raise TreeFileError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except UnicodeDecodeError:
        raise TreeFileError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise TreeFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return tree_from_dict(data, source=str(path))


def save_tree(tree: TopicTree, path: str | os.PathLike[str]) -> Path:
    """Write the tree as JSON atomically: a reader sees the old file or the new one, never half.

    Streams node by node and document by document, so a million-document tree never exists as one
    giant string in memory.
    """

    def chunks() -> Iterator[str]:
        yield '{"format":' + json.dumps(FORMAT_NAME) + ',"schema_version":' + str(SCHEMA_VERSION)
        yield ',"manifest":' + _dumps(tree.manifest) + ',"nodes":['
        for i, node in enumerate(tree.iter_nodes()):
            yield ("," if i else "") + _dumps(node_to_dict(node))
        yield '],"documents":['
        for i, doc in enumerate(tree.documents):
            yield ("," if i else "") + _dumps(document_to_dict(doc))
        yield "]}"

    return write_chunks_atomic(path, chunks())


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# -- exports -------------------------------------------------------------------------------
def nested_dict(tree: TopicTree) -> dict[str, Any]:
    """A d3-style hierarchy: every node with ``children``; leaves list their document ids."""

    def build(node: Node) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": node.id,
            "name": node.label,
            "summary": node.summary,
            "size": node.size,
            "keywords": node.keywords,
        }
        children = tree.children(node.id)
        if children:
            out["children"] = [build(c) for c in children]
        else:
            out["documents"] = [d.id for d in tree.documents_of(node.id)]
        return out

    return {"schema_version": NESTED_VERSION, "format": "topicmap-nested", "tree": build(tree.root)}


def assignments_csv(tree: TopicTree) -> str:
    """One row per document: id, leaf, depth and the node path from the root (``root/0/0.3``).

    Spreadsheet-safe (:mod:`topicmap.hierarchy.files.spreadsheet`): an id or label starting with = + - @ is written
    with a leading ``'`` so it stays text."""
    max_depth = tree.depth
    header = ["doc_id", "leaf", "path", *[f"level_{d}" for d in range(1, max_depth + 1)], "leaf_label"]

    def rows() -> Iterator[list[object]]:
        for row, doc in enumerate(tree.documents):
            path = tree.document_path(row)
            levels = path[1:] + [""] * (max_depth - (len(path) - 1))
            yield [doc.id, doc.leaf, "/".join(path), *levels, tree.node(doc.leaf).label]

    return csv_text(header, rows())

"""The tree file: versioned JSON with a checked-in JSON Schema, written atomically (:mod:`topicmap.hierarchy.files.safe_write`).

Our own schema (``schema/tree-vN.schema.json``), not networkx's ``node_link_data``, whose layout
changes between networkx versions. Version 2 added document times (``documents[].time``, seconds since
the epoch, UTC) and ``manifest.time`` (how the time column was read); version 1 files still load,
checked against their own schema (``tree-v1.schema.json``), as trees without times. ``nodes`` is a
flat list that maps 1:1 onto plotly's sunburst ``ids/parents/values/labels`` (the root's parent is ``""``).

Two forms are written (docs/tree-file.md): the single file (version 2, documents inline) for small
trees, and version 3, whose JSON holds nodes and manifest and points at a Parquet sidecar with the
documents (:mod:`topicmap.hierarchy.tree.documents_store`), for trees of :data:`SIDECAR_THRESHOLD`
documents or more and trees built from Parquet. Only nodes and manifest go through JSON Schema on
load; inline documents are checked field by field (the schema's own check runs on a document that
fails, for its message), which keeps loading a 100k-document file to about a second.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
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
from topicmap.hierarchy.tree.documents_store import (
    PARTS_FORMAT,
    SIDECAR_THRESHOLD,
    DocumentStore,
    ParquetStore,
    PartFile,
    owns_sidecar,
    parts_digest,
    remove_sidecar,
    write_store,
)
from topicmap.hierarchy.tree.topic_tree import Document, LabelMeta, Node, TopicTree

SCHEMA_VERSION = 2  # the single-file form (documents inline), the version small trees are written as
SIDECAR_VERSION = 3  # nodes and manifest in JSON, documents in a Parquet sidecar
NEWEST_VERSION = SIDECAR_VERSION
NESTED_VERSION = 1  # the nested export's own version: unchanged by the tree file's version 2
READABLE_VERSIONS = (1, 2, 3)  # every version this topicmap loads; each has its schema/tree-vN.schema.json
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
    """The single-file form (version 2, documents inline), whatever form the tree was read from."""
    return {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "manifest": tree.manifest,
        "nodes": [node_to_dict(n) for n in tree.iter_nodes()],
        "documents": [document_to_dict(d) for d in tree.store.iter_documents()],
    }


def tree_from_dict(data: Any, source: str = "tree file", folder: str | os.PathLike[str] | None = None) -> TopicTree:
    """Validate against the schema and the tree invariants; never returns a half-loaded tree.

    A version 3 file's sidecar is looked for in ``folder`` (the tree file's; default: the working directory).
    """
    if not isinstance(data, dict):
        raise TreeFileError(f"{source}: not a topicmap tree (top level is not a JSON object)")
    version = data.get("schema_version")
    if isinstance(version, int) and version > NEWEST_VERSION:
        raise TreeFileError(
            f"{source}: schema_version {version} is newer than this topicmap understands "
            f"({NEWEST_VERSION}); upgrade topicmap to read it"
        )
    _validate(data, version, source)
    try:
        nodes = [_node_from_file(n) for n in data["nodes"]]
        check_centroids(nodes, data.get("manifest", {}))
        if version == SIDECAR_VERSION:
            documents: list[Document] | DocumentStore = _open_sidecar(data["documents_file"], Path(folder or "."), source)
        else:
            documents = [document_from_dict(d) for d in data["documents"]]
        manifest = data.get("manifest", {})
        if version == 1:  # times arrived with version 2: whatever an edited old file holds is not one
            for doc in documents:
                doc.time = None
            manifest = {k: v for k, v in manifest.items() if k != "time"}
        if not len(documents):
            check_sizes_without_documents(nodes)
        tree = TopicTree(nodes, documents, manifest=manifest)
    except TreeFileError as exc:
        raise TreeFileError(f"{source}: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise TreeFileError(f"{source}: {exc}") from None
    return tree


def _validate(data: dict[str, Any], version: Any, source: str) -> None:
    """JSON Schema on everything but the documents; the documents field by field, the schema's
    own message for the first one that fails (jsonschema over 100k documents took 14 s)."""
    import jsonschema  # a tenth of a second to import: only when a file is read, not for --help or a missing file

    # an older file is checked against its own version's schema (a file without a readable version
    # against the current one, which then names what is wrong)
    schema = load_schema(version if version in READABLE_VERSIONS else SCHEMA_VERSION)
    validator = jsonschema.Draft202012Validator(schema)
    if version == 1:  # old files are small: the schema checks them whole
        error = next(iter(sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            raise TreeFileError(f"{source}: invalid at {where}: {_short(error.message)}")
        return
    nodes, documents = data.get("nodes"), data.get("documents")
    head = dict(data)
    if isinstance(nodes, list):
        head["nodes"] = nodes[:1]
    if isinstance(documents, list):
        head["documents"] = []
    error = next(iter(sorted(validator.iter_errors(head), key=lambda e: list(e.absolute_path))), None)
    if error is None:
        for key, items, suspects in (("nodes", nodes, _suspect_nodes), ("documents", documents, _suspect_documents)):
            definition = key[:-1]
            if not isinstance(items, list) or definition not in schema.get("$defs", {}):
                continue
            item_validator: Any = None
            for row in suspects(items):
                if item_validator is None:
                    item_validator = jsonschema.Draft202012Validator({**schema["$defs"][definition], "$defs": schema["$defs"]})
                found = next(iter(sorted(item_validator.iter_errors(items[row]), key=lambda e: list(e.absolute_path))), None)
                if found is not None:
                    where = "/".join([key, str(row), *(str(p) for p in found.absolute_path)])
                    raise TreeFileError(f"{source}: invalid at {where}: {_short(found.message)}")
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise TreeFileError(f"{source}: invalid at {where}: {_short(error.message)}")


_NODE_ID = re.compile(r"root|[0-9]+(\.[0-9]+)*")


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_NODE_FIELDS: dict[str, Any] = {
    "id": lambda v: isinstance(v, str) and _NODE_ID.fullmatch(v) is not None,
    "parent": lambda v: isinstance(v, str) and (v == "" or _NODE_ID.fullmatch(v) is not None),
    "depth": _count,
    "size": _count,
    "label": lambda v: isinstance(v, str),
    "summary": lambda v: isinstance(v, str),
    "keywords": _strings,
    "keyword_scores": lambda v: isinstance(v, list) and all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in v),
    "representative_ids": _strings,
    "centroid": lambda v: v is None or isinstance(v, str),
    "label_meta": lambda v: isinstance(v, dict)
    and isinstance(v.get("labeler"), str)
    and v.get("status", "ok") in ("ok", "failed")
    and all(isinstance(v[k], str) for k in ("model", "prompt", "prompt_hash", "created_at", "error") if k in v)
    and isinstance(v.get("extra", {}), dict),
    "extra": lambda v: isinstance(v, dict),
}
_NODE_REQUIRED = ("id", "parent", "depth", "size", "label")


def _suspect_nodes(nodes: list[Any]) -> Iterator[int]:
    """Rows whose node may break the schema (a quick check; the schema decides on these)."""
    for row, node in enumerate(nodes):
        if not isinstance(node, dict) or any(k not in node for k in _NODE_REQUIRED):
            yield row
        elif not all(k in _NODE_FIELDS and _NODE_FIELDS[k](v) for k, v in node.items()):
            yield row


def _suspect_documents(documents: list[Any]) -> Iterator[int]:
    """Rows whose document may break the schema (a quick check; the schema decides on these)."""
    number = (int, float)
    for row, doc in enumerate(documents):
        if not isinstance(doc, dict):
            yield row
            continue
        doc_id, leaf = doc.get("id"), doc.get("leaf")
        if not (isinstance(doc_id, str) and doc_id and isinstance(leaf, str) and _NODE_ID.fullmatch(leaf)):
            yield row
            continue
        for key, value in doc.items():
            if key in ("x", "y", "time"):
                ok = isinstance(value, number) and not isinstance(value, bool)
            elif key in ("title", "text"):
                ok = isinstance(value, str)
            elif key == "metadata":
                ok = isinstance(value, dict)
            else:
                ok = key in ("id", "leaf")
            if not ok:
                yield row
                break


def _open_sidecar(pointer: dict[str, Any], folder: Path, source: str) -> ParquetStore:
    """The sidecar a version 3 file names (a file, or a directory of parts), checked against what the file recorded of it."""
    path = folder / pointer["path"]
    parts: list[PartFile] | None = None
    if pointer.get("format") == PARTS_FORMAT:
        if not path.is_dir():
            raise TreeFileError(f"{path}: the documents directory of {source} is missing (it lives beside the tree file)")
        parts = [PartFile(p["path"], p["rows"], p["bytes"], p["sha256"]) for p in pointer["parts"]]
        if parts_digest(parts) != pointer["sha256"]:
            raise TreeFileError(f"{source}: documents_file.sha256 is not the hash of its parts' hashes: the pointer was edited")
        for part in parts:
            file = path / part.name
            if not file.is_file():
                raise TreeFileError(f"{file}: a part of the documents of {source} is missing")
            if file.stat().st_size != part.bytes:
                raise TreeFileError(f"{file}: has {file.stat().st_size:,} bytes, but {source} recorded {part.bytes:,}: the part was cut or replaced")
    else:
        if not path.is_file():
            raise TreeFileError(f"{path}: the documents file of {source} is missing (it lives beside the tree file)")
        recorded = pointer.get("bytes")
        if isinstance(recorded, int) and path.stat().st_size != recorded:
            raise TreeFileError(f"{path}: has {path.stat().st_size:,} bytes, but {source} recorded {recorded:,}: the documents file was cut or replaced")
    store = ParquetStore(path, sha256=pointer["sha256"], ids_checked=True, parts=parts)
    if parts is not None:
        for part, rows in zip(parts, store.part_rows):
            if rows != part.rows:
                raise TreeFileError(f"{path / part.name}: holds {rows:,} documents, but {source} recorded {part.rows:,}")
    if len(store) != pointer["rows"]:
        raise TreeFileError(f"{path}: holds {len(store):,} documents, but {source} recorded {pointer['rows']:,}")
    return store


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
    return tree_from_dict(data, source=str(path), folder=path.parent)


def wants_sidecar(tree: TopicTree, threshold: int = SIDECAR_THRESHOLD) -> bool:
    """The sidecar form for a tree of ``threshold`` documents or more, or one built from Parquet."""
    if tree.n_documents >= threshold or (tree._store is not None and tree._store.lazy):  # a sidecar, or a sidecar plus new rows (assign)
        return True
    source = tree.manifest.get("input", {}).get("source") if isinstance(tree.manifest.get("input"), dict) else None
    return isinstance(source, str) and ".parquet" in source.lower()


def save_tree(
    tree: TopicTree, path: str | os.PathLike[str], *, sidecar: bool | None = None, threshold: int = SIDECAR_THRESHOLD,
    part_rows: int | None = None,
) -> Path:
    """Write the tree atomically: a reader sees the old file or the new one, never half.

    ``sidecar`` None keeps the form of the file being replaced if it has a sidecar, else chooses by
    :func:`wants_sidecar`; True / False force the form. The single file
    streams node by node and document by document, so a big tree never exists as one giant string.
    The sidecar form writes (or copies, or keeps) the Parquet file first, under its content hash,
    then the JSON pointing at it; the sidecar the replaced JSON named is removed afterwards.
    ``part_rows`` writes documents held in memory as a directory of parts of that many rows (a sidecar
    already on disk keeps its form).
    """
    path = Path(path)
    previous = sidecar_named_by(path)
    # rewriting a sidecar tree in place (label, assign -o the same file) keeps its form
    use_sidecar = (previous is not None or part_rows is not None or wants_sidecar(tree, threshold)) if sidecar is None else sidecar
    new_name: str | None = None
    if not use_sidecar:
        written = write_chunks_atomic(path, single_file_chunks(tree))
    else:
        store = write_store(path, tree.store, part_rows)
        try:
            written = write_chunks_atomic(path, _sidecar_chunks(tree, store))
        except BaseException:
            # the JSON was not replaced: a sidecar written for it alone would be litter (never one a file names)
            if store is not tree._store and (previous is None or store.path.name != previous.name):
                remove_sidecar(store.path)
            raise
        new_name = store.path.name
        if tree._store is not None and tree._store is not store and tree._store.lazy:
            tree._store = store  # read from the file that stays
    if previous is not None and previous.name != new_name and owns_sidecar(path, previous):
        try:
            remove_sidecar(previous)
        except OSError:
            pass  # already gone, or not ours to remove: it does no harm
    return written


def sidecar_named_by(path: Path) -> Path | None:
    """The sidecar an existing version 3 tree file at ``path`` points at (None for anything else)."""
    try:
        if not path.is_file() or path.stat().st_size > 64 * 2**20:  # a sidecar form's JSON is small
            return None
        data = json.loads(path.read_bytes())
        name = data["documents_file"]["path"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    from topicmap.hierarchy.tree.documents_store import SIDECAR_NAME

    return path.parent / name if isinstance(name, str) and SIDECAR_NAME.fullmatch(name) else None


def single_file_chunks(tree: TopicTree) -> Iterator[str]:
    """The single-file form (version 2) as text chunks, documents read in batches from the tree's store."""
    yield '{"format":' + json.dumps(FORMAT_NAME) + ',"schema_version":' + str(SCHEMA_VERSION)
    yield ',"manifest":' + _dumps(tree.manifest) + ',"nodes":['
    for i, node in enumerate(tree.iter_nodes()):
        yield ("," if i else "") + _dumps(node_to_dict(node))
    yield '],"documents":['
    first = True
    for batch in tree.store.iter_batches():
        parts = [_dumps(document_to_dict(doc)) for doc in batch]
        if parts:
            yield ("" if first else ",") + ",".join(parts)
            first = False
    yield "]}"


def _sidecar_chunks(tree: TopicTree, store: ParquetStore) -> Iterator[str]:
    pointer: dict[str, Any] = {
        "path": store.path.name,
        "format": PARTS_FORMAT if store.partitioned else "parquet",
        "rows": len(store),
        "bytes": store.nbytes,
        "sha256": store.sha256,
        "columns": list(store.columns),
    }
    if store.partitioned:
        pointer["parts"] = [part.to_dict() for part in store.part_files()]
    yield '{"format":' + json.dumps(FORMAT_NAME) + ',"schema_version":' + str(SIDECAR_VERSION)
    yield ',"manifest":' + _dumps(tree.manifest) + ',"nodes":['
    for i, node in enumerate(tree.iter_nodes()):
        yield ("," if i else "") + _dumps(node_to_dict(node))
    yield '],"documents_file":' + _dumps(pointer) + "}"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# -- exports -------------------------------------------------------------------------------
def nested_dict(tree: TopicTree) -> dict[str, Any]:
    """A d3-style hierarchy: every node with ``children``; leaves list their document ids."""

    ids = tree.store.strings("id") if tree.store.lazy else None  # one column read, not a page per leaf

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
            out["documents"] = [d.id for d in tree.documents_of(node.id)] if ids is None else [ids[r] for r in tree.document_rows(node.id)]
        return out

    return {"schema_version": NESTED_VERSION, "format": "topicmap-nested", "tree": build(tree.root)}


def assignments_csv(tree: TopicTree) -> str:
    """One row per document: id, leaf, depth and the node path from the root (``root/0/0.3``).

    Spreadsheet-safe (:mod:`topicmap.hierarchy.files.spreadsheet`): an id or label starting with = + - @ is written
    with a leading ``'`` so it stays text."""
    max_depth = tree.depth
    header = ["doc_id", "leaf", "path", *[f"level_{d}" for d in range(1, max_depth + 1)], "leaf_label"]

    def rows() -> Iterator[list[object]]:
        arrays = tree.arrays
        paths = {leaf: [n.id for n in tree.path(arrays.node_ids[leaf])] for leaf in np.flatnonzero(arrays.is_leaf).tolist()}
        for doc_id, leaf in zip(tree.store.strings("id"), arrays.doc_leaf.tolist()):
            path = paths[leaf]
            levels = path[1:] + [""] * (max_depth - (len(path) - 1))
            yield [doc_id, path[-1], "/".join(path), *levels, tree.node(path[-1]).label]

    return csv_text(header, rows())

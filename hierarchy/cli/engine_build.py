"""``build --engine dask``: where the vectors of a build come from when its passes run on a Dask cluster.

Kept apart from cli/core.py so the local build reads as before. The client reads the documents (ids,
texts, metadata); the vectors are made or read on the workers and the same
:func:`topicmap.hierarchy.builder.pipeline.build_tree` runs with them there. The workers then write the
documents as a partitioned sidecar, one part per partition; the client writes the tree file's JSON.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from topicmap.hierarchy.base.errors import InputError

if TYPE_CHECKING:
    from topicmap.hierarchy.builder.dask_engine import DaskEngine
    from topicmap.hierarchy.inputs.documents import Corpus
    from topicmap.hierarchy.tree.topic_tree import TopicTree

TIMEOUT_VARIABLE = "TOPICMAP_DASK_TIMEOUT"  # seconds to wait for the scheduler and a worker [default: 10]
PARTITION_VARIABLE = "TOPICMAP_DASK_PARTITION_ROWS"  # rows per partition, a multiple of 65,536 [default: 131,072]
WORKER_EMBEDDERS = ("minilm", "openai")  # embedders whose work splits by text; tfidf is fitted to the whole corpus here


def scheduler_address(scheduler: str | None, reducer: str | None = None) -> str:
    """The scheduler to use (``--scheduler``, else ``DASK_SCHEDULER_ADDRESS``), checked with the options before anything is read."""
    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if not address:
        raise InputError("--engine dask needs a scheduler: give --scheduler tcp://HOST:8786 or set DASK_SCHEDULER_ADDRESS")
    if reducer == "umap":
        raise InputError("--engine dask reduces the rows where they are, block by block: --reducer umap needs them all in one place; use --reducer pca")
    return address


def connect_engine(address: str) -> DaskEngine:
    """A client of the scheduler, partitions sized by :data:`PARTITION_VARIABLE`; one line if it cannot be reached."""
    from topicmap.hierarchy.builder.dask_engine import CONNECT_TIMEOUT_S, PARTITION_ROWS, connect

    timeout = _number(TIMEOUT_VARIABLE, CONNECT_TIMEOUT_S)
    rows = int(_number(PARTITION_VARIABLE, PARTITION_ROWS))
    try:
        return connect(address, timeout, rows)
    except ValueError as exc:
        raise InputError(f"{PARTITION_VARIABLE}={rows}: {exc}") from None


def vectors_on_workers(
    engine: DaskEngine, corpus: Corpus, embeddings: Path | None, embedder: str | None, model: str | None,
    cache_dir: Path | None, seed: int, quiet: bool, stream_column: str | None,
) -> tuple[Any, dict[str, object]]:
    """The corpus's vectors as partitions on the workers, and the manifest's embedder entry.

    Texts to embed with minilm or openai are embedded there (unless the embedding cache has them);
    anything else is obtained as a local build obtains it: a ``.npy`` or a Parquet column then is read
    by the workers themselves, an array (a table's column, tfidf vectors) is sent to them.
    """
    import typer

    from topicmap.hierarchy.cli.core import _sentence_transformers_available, obtain_embeddings

    given = corpus.embeddings is not None or embeddings is not None or stream_column is not None
    if not given:
        embedder = embedder or ("minilm" if _sentence_transformers_available() else "tfidf")
    if not given and embedder in WORKER_EMBEDDERS:
        rows, info, hit = embedded_on_workers(engine, corpus, str(embedder), model, cache_dir)
        if hit and not quiet:
            typer.echo(f"embeddings: reused from cache ({info['name']})", err=True)
        return rows, info
    vectors, info = obtain_embeddings(corpus, embeddings, embedder, model, cache_dir, seed, quiet, stream_column)
    return engine.load(vectors), info


def embedded_on_workers(engine: DaskEngine, corpus: Corpus, embedder: str, model: str | None, cache_dir: Path | None) -> tuple[Any, dict[str, object], bool]:
    """The corpus's texts embedded by the workers (each loads the model once), or read from the embedding
    cache here when it has them; the manifest's embedder entry; whether the cache had them.

    Vectors the workers make are written to the cache as they come back, a partition at a time, so a
    rebuild on either engine does not embed them again."""
    from topicmap.hierarchy.inputs.embed import cache_path, check_cache_dir, make_embedder, read_cached_vectors

    api_key, base_url = os.environ.get("OPENAI_API_KEY"), os.environ.get("OPENAI_BASE_URL")
    made = make_embedder(embedder, api_key=api_key, base_url=base_url, model=model)  # made, not loaded: its name and kind
    info: dict[str, object] = {"name": made.name, "kind": embedder}
    texts = corpus.embedding_texts()
    path = cache_path(cache_dir, made.name, texts) if cache_dir is not None else None
    cached = read_cached_vectors(path, len(texts)) if path is not None else None
    if cached is not None:
        return engine.load(cached), info, True
    if path is not None and getattr(made, "remote", False):
        check_cache_dir(cache_dir)  # type: ignore[arg-type]
    rows = engine.embed(texts, embedder, model, api_key, base_url, corpus.source)
    if path is not None:
        _cache(path, rows)
    return rows, info, False


def save_with_parts_on_workers(engine: DaskEngine, tree: TopicTree, bounds: Any, output: Path) -> TopicTree:
    """Write ``tree`` at ``output`` with its documents as a partitioned sidecar that the workers wrote, one
    part per partition of ``bounds``; the tree now reading them from there.

    Order of writes: the parts into a temp directory (a worker's failure removes it: no tree file is
    written), the directory renamed to its hash, then the JSON here. Should the JSON fail, the new
    directory is removed too (unless the previous tree file already named the very same one)."""
    from topicmap.hierarchy.builder.built_documents import BuiltDocuments, partition_rows
    from topicmap.hierarchy.tree.documents_store import remove_sidecar, write_parts
    from topicmap.hierarchy.tree.topic_tree import TopicTree
    from topicmap.hierarchy.tree.treefile import save_tree, sidecar_named_by

    built = tree.store
    assert isinstance(built, BuiltDocuments)
    keys = built.metadata_keys
    before = sidecar_named_by(output)
    store = write_parts(output, lambda folder: engine.write_parts(folder, bounds, lambda a, b: partition_rows(built, a, b), built.node_ids, keys))
    store.ids_checked = True  # the corpus's ids were checked when the built tree was made
    try:
        written = TopicTree(list(tree.iter_nodes()), store, manifest=tree.manifest)
        save_tree(written, output, sidecar=True)
    except BaseException:
        if before is None or before.name != store.path.name:
            remove_sidecar(store.path)
        raise
    return written


def worker_embedder(model: Any) -> tuple[str, str]:
    """The workers' spec (kind, model) of an embedder resolved here: the same model, loaded on each worker."""
    from topicmap.hierarchy.inputs.embed import OpenAIEmbedder, SentenceTransformerEmbedder

    if isinstance(model, SentenceTransformerEmbedder):
        return "minilm", model.model
    if isinstance(model, OpenAIEmbedder):
        return "openai", model.model
    raise InputError(f"--engine dask embeds with minilm or openai on the workers, not {getattr(model, 'name', model)}")


def _cache(path: Path, rows: Any) -> None:
    """The workers' vectors written to the embedding cache as one ``.npy``, a partition at a time (a failure only warns)."""
    import io
    import itertools
    import sys

    import numpy as np

    from topicmap.hierarchy.base.errors import OutputError
    from topicmap.hierarchy.files.safe_write import write_chunks_atomic

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False, "shape": (rows.n_rows, rows.dim)})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_chunks_atomic(path, itertools.chain([header.getvalue()], (np.ascontiguousarray(block, dtype=np.float32).tobytes() for block in rows.iter_chunks())))
    except (OSError, OutputError) as exc:  # the vectors are made; a cache we cannot write only costs a re-embed later
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        print(f"warning: cannot write the embedding cache in {path.parent} ({reason}); continuing without it", file=sys.stderr)


def _number(variable: str, default: float) -> float:
    text = os.environ.get(variable)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{variable}={text!r}: expected a number") from None


__all__ = ["WORKER_EMBEDDERS", "connect_engine", "embedded_on_workers", "save_with_parts_on_workers", "scheduler_address", "vectors_on_workers", "worker_embedder"]

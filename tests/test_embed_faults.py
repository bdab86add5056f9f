"""A hostile embeddings server and a damaged embedding cache: one-line errors naming the batch, misses that heal.

The openai embedder runs through the real ``openai`` client against the scripted server on 127.0.0.1.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from topicmap.hierarchy.inputs.embed import OpenAIEmbedder, TfidfEmbedder, cache_path, embed_with_cache
from topicmap.hierarchy.base.errors import InputError, OutputError, TopicmapError
from topicmap.hierarchy.inputs.documents import read_documents
from tests.cli_helpers import invoke_cli
from tests.openai_server import Fault, FakeOpenAIServer, embedding_of

TEXTS = [f"document number {i}" for i in range(5)]


class CountingEmbedder:
    """A local embedder (no requests) that counts its calls."""

    name = "counting-v1"

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Any, progress: Any = None) -> np.ndarray:
        self.calls += 1
        return np.asarray([[len(t), 1.0, 0.5] for t in texts], dtype=np.float32)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


# -- 7: malformed embeddings responses --------------------------------------------------------------
MALFORMED_BODIES: dict[str, tuple[Any, str]] = {
    "no data": ({"object": "list", "model": "m"}, '"data" is missing'),
    "not JSON": (b"<html>upstream error</html>", "the body is not JSON"),
    "a JSON array": ([[0.1, 0.2], [0.3, 0.4]], "the body is a JSON array"),
    "ragged vectors": ({"data": [{"index": 0, "embedding": [0.1, 0.2]}, {"index": 1, "embedding": [0.3]}]}, "different lengths"),
    "a string for a vector": ({"data": [{"index": 0, "embedding": "AAAAAA=="}, {"index": 1, "embedding": [0.3]}]}, '"data[0].embedding" is "AAAAAA=="'),
    "too few vectors": ({"data": [{"index": 0, "embedding": [0.1, 0.2]}]}, "1 embeddings came back for 2 texts"),
    "a repeated index": ({"data": [{"index": 1, "embedding": [0.1]}, {"index": 1, "embedding": [0.2]}]}, '"data[1].index" is 1'),
    "NaN in a vector": (b'{"data": [{"index": 0, "embedding": [NaN, 1]}, {"index": 1, "embedding": [1, 2]}]}', "not finite numbers"),
}


@pytest.mark.parametrize(("body", "reason"), MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_a_malformed_embeddings_response_is_one_error_naming_the_batch(body: Any, reason: str) -> None:
    with FakeOpenAIServer() as server:
        # the first batch is answered properly; the second one (rows 3-4) gets the bad body on every try
        server.fault_for = lambda request: Fault("envelope", body=body) if request["input"] == TEXTS[2:4] else None
        embedder = OpenAIEmbedder(model="fake-embed", base_url=server.base_url, batch_size=2, max_retries=1, backoff=0.01)
        with pytest.raises(TopicmapError) as info:
            embedder.embed(TEXTS)
        assert len(server.requests) == 3  # batch 1, then batch 2 tried twice; batch 3 never sent
    message = str(info.value)
    assert "\n" not in message and "malformed embeddings response" in message
    assert "batch 2 of 3 (rows 3-4)" in message and reason in message and "2 tries" in message


def test_a_malformed_response_once_is_retried(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        server.script(Fault("envelope", body={"object": "list"}))
        vectors = OpenAIEmbedder(model="fake-embed", base_url=server.base_url, batch_size=8, backoff=0.01).embed(TEXTS)
    assert np.allclose(vectors, np.asarray([embedding_of(t) for t in TEXTS]), atol=1e-6)


def test_the_embedder_waits_as_long_as_retry_after_says() -> None:
    with FakeOpenAIServer() as server:
        server.script(Fault("status", status=429, retry_after="0.5"))
        OpenAIEmbedder(model="fake-embed", base_url=server.base_url, backoff=0.001).embed(TEXTS)
        assert server.arrived_at[1] - server.arrived_at[0] >= 0.5  # the server's clock: not the 1 ms backoff


# -- 10: a damaged embedding cache entry is a miss ----------------------------------------------------
def _entries(rows: int) -> dict[str, bytes]:
    good = np.tile(np.asarray([[1.0, 1.0, 0.5]], dtype=np.float32), (rows, 1))
    with_nan = good.copy()
    with_nan[1, 2] = np.nan
    return {
        "wrong number of rows": _npy(good[:-1]),
        "one dimension": _npy(good[:, 0]),
        "zero dimensions": _npy(np.zeros((rows, 0), dtype=np.float32)),
        "NaN": _npy(with_nan),
        "infinite": _npy(np.full((rows, 3), np.inf, dtype=np.float32)),
        "strings": _npy(np.asarray([["a", "b", "c"]] * rows)),
        "complex": _npy(good.astype(np.complex64)),
        "truncated": _npy(good)[:-7],
        "not an npy file": b"PK\x03\x04 a zip, or anything else",
        "empty file": b"",
    }


@pytest.mark.parametrize("damage", _entries(len(TEXTS)).keys())
def test_a_damaged_embedding_cache_entry_is_recomputed_and_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str) -> None:
    embedder = CountingEmbedder()
    fresh, hit = embed_with_cache(TEXTS, embedder, tmp_path)
    assert not hit
    entry = cache_path(tmp_path, embedder.name, TEXTS)
    entry.write_bytes(_entries(len(TEXTS))[damage])
    vectors, hit = embed_with_cache(TEXTS, embedder, tmp_path)
    assert not hit and embedder.calls == 2 and np.array_equal(vectors, fresh)
    err = capsys.readouterr().err
    assert f"warning: ignoring the embedding cache entry {entry}" in err and "computing the vectors again" in err
    assert np.array_equal(np.load(entry), fresh)  # overwritten with good vectors
    again, hit = embed_with_cache(TEXTS, embedder, tmp_path)
    assert hit and embedder.calls == 2 and np.array_equal(again, fresh)


def test_a_rebuild_with_a_damaged_cache_entry_does_not_blame_the_documents(tmp_path: Path, topic_corpus: tuple[Path, Path]) -> None:
    docs, _ = topic_corpus
    cache = tmp_path / "cache"
    texts = read_documents(docs).embedding_texts()
    vectors, _ = embed_with_cache(texts, TfidfEmbedder(seed=0), cache)  # what 'build --embedder tfidf' caches
    entry = cache_path(cache, TfidfEmbedder(seed=0).name, texts)
    vectors[3, 0] = np.nan
    np.save(entry, vectors)
    result = invoke_cli("build", str(docs), "--embedder", "tfidf", "--cache-dir", str(cache), "-o", str(tmp_path / "t.json"), "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning: ignoring the embedding cache entry" in result.stderr and str(docs) not in result.stderr
    assert np.isfinite(np.load(entry)).all()


# -- 5 and 11: checked before the first request ----------------------------------------------------
def test_an_unwritable_cache_stops_the_openai_embedder_before_any_request(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should go", "utf-8")
    with FakeOpenAIServer() as server:
        embedder = OpenAIEmbedder(model="fake-embed", base_url=server.base_url)
        with pytest.raises(OutputError, match="cannot write the cache directory .* pass a writable --cache-dir, or --no-cache"):
            embed_with_cache(TEXTS, embedder, blocker / "cache")
        assert server.requests == []


def test_a_local_embedder_only_warns_about_an_unwritable_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Free vectors are not lost: the run goes on without the cache, as before."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", "utf-8")
    vectors, hit = embed_with_cache(TEXTS, CountingEmbedder(), blocker / "cache")
    assert vectors.shape == (5, 3) and not hit and "warning: cannot write the embedding cache" in capsys.readouterr().err


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/v1", "127.0.0.1:8000/v1", "http://127.0.0.1:port/v1"])
def test_a_bad_embeddings_base_url_is_an_error_naming_the_variable(url: str) -> None:
    with pytest.raises(InputError, match=f"OPENAI_BASE_URL '{url}'"):
        OpenAIEmbedder(model="fake-embed", base_url=url)

"""Helpers for the evaluate / navigate / assign tests: small trees, a word-hash embedder, a fake chat server."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np

from topicmap.hierarchy.inputs.documents import Corpus, read_documents
from topicmap.hierarchy.builder.pipeline import BuildConfig, BuildInputs, build_tree
from topicmap.hierarchy.tree.topic_tree import Document, LabelMeta, Node, TopicTree
from tests.openai_server import QuietHTTPServer


class HashEmbedder:
    """Bag of words hashed into ``dims`` buckets, L2-normalised: texts sharing words are close. No model."""

    def __init__(self, dims: int = 64) -> None:
        self.dims = dims
        self.name = f"test-hash-{dims}"
        self.calls = 0

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]{3,}", text.lower()):
                if word in {"report", "number", "story"}:
                    continue
                bucket = int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dims
                out[row, bucket] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


def build(corpus: Corpus, vectors: np.ndarray, embedder_name: str = "precomputed", min_leaf_size: int = 5, seed: int = 0, **config: Any) -> TopicTree:
    """A default-pipeline tree, recording ``embedder_name`` in the manifest as the CLI would."""
    return build_tree(corpus, vectors, BuildConfig(min_leaf_size=min_leaf_size, seed=seed, **config), BuildInputs(corpus.source, corpus.sha256, {"name": embedder_name}))


def hash_tree(docs: Path, embedder: HashEmbedder, **config: Any) -> TopicTree:
    """The topic corpus clustered in the hash embedder's own space (so labels and documents share it)."""
    corpus = read_documents(docs)
    return build(corpus, embedder.embed(corpus.embedding_texts()), embedder_name=embedder.name, **config)


def hand_tree(labels: dict[str, str] | None = None) -> TopicTree:
    """root -> A (a1, a2), B (b1, b2); two documents per leaf, 2-D centroids on the unit circle."""
    labels = labels or {"0": "sport", "1": "money", "0.0": "football", "0.1": "tennis", "1.0": "markets", "1.1": "banks"}
    angle = {"0.0": 0.0, "0.1": 0.4, "1.0": 2.0, "1.1": 2.4}
    nodes = [Node("root", None, 0, 8, centroid=np.zeros(2, dtype=np.float32))]
    for top in ("0", "1"):
        kids = [f"{top}.0", f"{top}.1"]
        mean = np.mean([[np.cos(angle[k]), np.sin(angle[k])] for k in kids], axis=0)
        nodes.append(Node(top, "root", 1, 4, label=labels.get(top, ""), centroid=mean.astype(np.float32)))
    for leaf, a in angle.items():
        nodes.append(Node(leaf, leaf.split(".")[0], 2, 2, label=labels.get(leaf, ""), centroid=np.array([np.cos(a), np.sin(a)], dtype=np.float32)))
    docs = [Document(f"{leaf}-{i}", leaf, text=f"doc {leaf} {i}", metadata={"sub": leaf, "top": leaf[0]}) for leaf in angle for i in range(2)]
    return TopicTree(nodes, docs, manifest={"embedder": {"name": "precomputed"}})


def relabelled(tree: TopicTree, node_id: str) -> None:
    """What a relabel does to a node: a fresh label_meta (which drops staleness flags)."""
    tree.node(node_id).label_meta = LabelMeta(labeler="llm", model="fake")


class FakeChatServer:
    """An OpenAI chat-completions endpoint on 127.0.0.1; ``answer(messages) -> str`` decides the reply."""

    def __init__(self, answer: Callable[[list[dict[str, str]]], str]) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                payload = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": server.answer(body["messages"])}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
                }
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def candidate_lines(messages: list[dict[str, str]]) -> list[str]:
    """The numbered candidate lines of a rendered navigation prompt."""
    return re.findall(r"^\d+\. .*$", messages[-1]["content"], flags=re.M)

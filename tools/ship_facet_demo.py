"""Ship a recorded facet extraction as the papers demo's facets: ``python tools/ship_facet_demo.py FACETS.jsonl``.

Copies the extraction (made with ``topicmap extract``, see ``topicmap.hierarchy.cli.facet_demo.EXTRACT_COMMAND``)
to ``data/papers.facets.jsonl`` after checking it holds the 56 papers in ``data/papers.jsonl``'s order with every
facet filled (every note over 20 characters, no note repeated), and writes ``data/papers.facets.<facet>.minilm.npy``: MiniLM vectors of each facet's notes alone
(the embedding the demo would otherwise compute), so ``topicmap demo --corpus papers`` needs no model.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from topicmap.hierarchy.cli.facet_demo import FACETS, FACETS_FILE, facet_vectors_file  # noqa: E402
from topicmap.hierarchy.files.safe_write import write_bytes_atomic, write_text_atomic  # noqa: E402
from topicmap.hierarchy.inputs.embed import SentenceTransformerEmbedder  # noqa: E402

DATA = ROOT / "data"
KEEP = ("id", "title", "text")
MIN_NOTE_CHARS = 20  # tests/test_facets_demo.py checks the shipped notes are longer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("extraction", type=Path, help="the .facets.jsonl written by topicmap extract")
    args = parser.parse_args()
    papers = [json.loads(line) for line in (DATA / "papers.jsonl").read_text("utf-8").splitlines() if line.strip()]
    rows = [json.loads(line) for line in args.extraction.read_text("utf-8").splitlines() if line.strip()]
    if [r.get("id") for r in rows] != [p["id"] for p in papers]:
        raise SystemExit(f"{args.extraction}: not the papers of data/papers.jsonl in their order")
    failed = [r["id"] for r in rows if r.get("_extract_errors") or any(not str(r.get(f) or "").strip() for f in FACETS)]
    if failed:
        raise SystemExit(f"{args.extraction}: {len(failed)} papers without every facet ({', '.join(failed[:5])}); extract them again first")
    short = [f"{r['id']} {f}" for r in rows for f in FACETS if len(str(r[f]).strip()) <= MIN_NOTE_CHARS]
    if short:
        raise SystemExit(f"{args.extraction}: {len(short)} notes of {MIN_NOTE_CHARS} characters or fewer ({', '.join(short[:5])})")
    seen: dict[str, str] = {}
    for r in rows:
        for f in FACETS:
            key = str(r[f]).strip().casefold()
            if key in seen:
                raise SystemExit(f"{args.extraction}: the {f} note of {r['id']} repeats the note of {seen[key]}")
            seen[key] = f"{r['id']} {f}"
    kept = [{**{k: r[k] for k in KEEP}, **{f: r[f] for f in FACETS}} for r in rows]
    write_text_atomic(DATA / FACETS_FILE, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))
    embedder = SentenceTransformerEmbedder("minilm")
    for facet in FACETS:
        vectors = np.asarray(embedder.embed([r[facet] for r in kept]), dtype=np.float32)
        buffer = io.BytesIO()
        np.save(buffer, vectors)
        target = facet_vectors_file(DATA, facet)
        write_bytes_atomic(target, buffer.getvalue())
        print(f"wrote {target} {vectors.shape}")
    print(f"wrote {DATA / FACETS_FILE} ({len(kept)} papers)")


if __name__ == "__main__":
    main()

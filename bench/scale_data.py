"""Clustered float32 vectors written straight to disk, a block at a time (never all in memory).

    python bench/scale_data.py npy 10000000 /work/bench-data-ooc/x10m.npy
    python bench/scale_data.py parquet 1000000 /work/bench-data-ooc/x1m-shards --shard-rows 250000

Rows come from 2,000 topic centres nested under 40 groups (384-d, as MiniLM's), each row its
centre plus noise, all seeded, so every run of a size writes the same bytes.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np

DIM = 384
GROUPS = 40
TOPICS = 2000
BLOCK = 65536


def _centres(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    groups = rng.standard_normal((GROUPS, DIM)).astype(np.float32)
    parent = rng.integers(0, GROUPS, TOPICS)
    return (groups[parent] + 0.6 * rng.standard_normal((TOPICS, DIM))).astype(np.float32)


def blocks(n_rows: int, seed: int = 0) -> Iterator[np.ndarray]:
    """The rows in order, ``BLOCK`` at a time (each block seeded on its own)."""
    centres = _centres(seed)
    for index, start in enumerate(range(0, n_rows, BLOCK)):
        count = min(BLOCK, n_rows - start)
        rng = np.random.default_rng([seed, index])
        rows = rng.standard_normal((count, DIM), dtype=np.float32)
        rows *= 0.9
        rows += centres[rng.integers(0, TOPICS, count)]
        yield rows


def write_npy(path: Path, n_rows: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False, "shape": (n_rows, DIM)})
        for block in blocks(n_rows, seed):
            fh.write(block.tobytes())
    partial.rename(path)


def write_parquet(directory: Path, n_rows: int, shard_rows: int, seed: int = 0, column: str = "embedding") -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    writer = None
    shard = written = 0
    schema = pa.schema([("id", pa.string()), (column, pa.list_(pa.float32(), DIM))])
    for block in blocks(n_rows, seed):
        at = 0
        while at < block.shape[0]:
            if writer is None:
                writer = pq.ParquetWriter(directory / f"part-{shard:05d}.parquet", schema)
            take = min(block.shape[0] - at, shard_rows - written)
            part = block[at : at + take]
            ids = pa.array([f"d{shard * shard_rows + written + i}" for i in range(take)])
            vectors = pa.FixedSizeListArray.from_arrays(pa.array(part.ravel()), DIM)
            writer.write_table(pa.table([ids, vectors], schema=schema))
            at += take
            written += take
            if written == shard_rows:
                writer.close()
                writer, shard, written = None, shard + 1, 0
    if writer is not None:
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["npy", "parquet"])
    parser.add_argument("rows", type=int)
    parser.add_argument("path", type=Path)
    parser.add_argument("--shard-rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.kind == "npy":
        write_npy(args.path, args.rows, args.seed)
    else:
        write_parquet(args.path, args.rows, args.shard_rows, args.seed)


if __name__ == "__main__":
    main()

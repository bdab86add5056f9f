"""Search of one tree's documents and topics, bounded in everything a request can make large.

The query comes from the browser, so nothing about it is trusted: it is cut to
:data:`MAX_QUERY_CHARS` characters and :data:`MAX_QUERY_TERMS` distinct terms (the result says so,
and the page tells the user); the scan over the documents stops once it has used
:data:`SCAN_CPU_BUDGET_S` of CPU time (the result says how many documents it covered); results are
cached under the normalised, bounded terms in a cache capped in entries and in bytes; and callbacks
asking for the same query at once (Dash fires several per search) compute it once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from threading import Event, Lock

import numpy as np

MAX_QUERY_CHARS = 200  # of the query as typed; the rest is ignored
MAX_QUERY_TERMS = 10  # distinct terms; every one must match, so more would only narrow an empty result
SCAN_CPU_BUDGET_S = 0.04  # CPU time one search may spend scanning documents (one word: all of 100k in the bench)
SCAN_CHUNK = 2048  # documents scanned between two looks at the clock
CACHE_ENTRIES = 64
CACHE_BYTES = 32 * 2**20  # estimated size of all cached results together
WAIT_FOR_PEER_S = 10.0  # longest wait for another request computing the same query


@dataclass(frozen=True)
class Query:
    """A query as it will be run: distinct lower-case terms, longest (most selective) first."""

    terms: tuple[str, ...]
    cut_chars: bool = False  # the text was longer than MAX_QUERY_CHARS
    dropped_terms: int = 0  # distinct terms left out beyond MAX_QUERY_TERMS

    @property
    def key(self) -> str:
        """The cache key: at most MAX_QUERY_CHARS characters whatever was sent."""
        return " ".join(self.terms)

    @property
    def shortened(self) -> bool:
        return self.cut_chars or self.dropped_terms > 0


def parse_query(text: str) -> Query:
    """Terms of ``text``: only its first MAX_QUERY_CHARS characters are read (a 36 MB query costs
    what a 200-character one does), repeats and terms contained in another term are dropped (they
    cannot change a substring AND-match), then at most MAX_QUERY_TERMS are kept in the user's order."""
    words = list(dict.fromkeys(text[:MAX_QUERY_CHARS].lower().split()))
    distinct = [w for w in words if not any(w != other and w in other for other in words)]
    kept = distinct[:MAX_QUERY_TERMS]
    terms = tuple(sorted(kept, key=lambda term: (-len(term), term)))
    return Query(terms, cut_chars=len(text) > MAX_QUERY_CHARS, dropped_terms=len(distinct) - len(kept))


@dataclass(frozen=True)
class SearchResult:
    """What a query matched: document rows (row order), nodes by label, and per-node hit counts."""

    query: str  # the terms searched for, space-separated (Query.key)
    doc_rows: np.ndarray  # int64, ascending
    label_matches: tuple[str, ...]  # node ids whose label/keywords/summary contain every term
    node_hits: dict[str, int] = field(default_factory=dict)  # node id -> matching docs under it (>0 only)
    shortened: bool = False  # the query was cut to MAX_QUERY_CHARS / MAX_QUERY_TERMS
    docs_scanned: int = 0  # the scan covered documents [0, docs_scanned) ...
    docs_total: int = 0  # ... of this many
    limited: int = 0  # the full-text index returned only this many matching rows (0: all of them)

    @property
    def highlighted(self) -> set[str]:
        """Nodes to light up: those holding matching documents, labels that match, and their ancestors."""
        return set(self.node_hits) | set(self.label_matches)

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(self.query.split())

    @property
    def complete(self) -> bool:
        """False when the scan stopped at its time budget: more documents may match."""
        return self.docs_scanned >= self.docs_total

    def nbytes(self) -> int:
        """Rough memory held by this result (what the cache counts against CACHE_BYTES)."""
        return 200 + len(self.query) + int(self.doc_rows.nbytes) + 100 * (len(self.node_hits) + len(self.label_matches))


def match_rows(texts: Sequence[str], terms: Sequence[str], cpu_budget_s: float | None = None) -> tuple[np.ndarray, int]:
    """Rows of ``texts`` containing every term, and how many texts were scanned.

    Texts are scanned in order, SCAN_CHUNK at a time, each chunk through every term; after a chunk
    the scan stops if it has used more than ``cpu_budget_s`` of this thread's CPU time. So the
    rows found are exact for the scanned prefix, and at least one chunk is always scanned.
    """
    started = time.thread_time()
    found: list[int] = []
    n = len(texts)
    for lo in range(0, n, SCAN_CHUNK):
        hi = min(lo + SCAN_CHUNK, n)
        rows: Sequence[int] = range(lo, hi)
        for term in terms:
            rows = [i for i in rows if term in texts[i]]
            if not rows:
                break
        found.extend(rows)
        if cpu_budget_s is not None and hi < n and time.thread_time() - started > cpu_budget_s:
            return np.array(found, dtype=np.int64), hi
    return np.array(found, dtype=np.int64), n


class SearchCache:
    """Results by query key, least recently used out first, bounded in entries and in bytes.

    The newest result is always kept (one result is bounded by the tree's size). A key being
    computed by one request is waited for by the others instead of computed again.
    """

    def __init__(self, entries: int = CACHE_ENTRIES, max_bytes: int = CACHE_BYTES) -> None:
        self.entries = entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, SearchResult] = OrderedDict()
        self._bytes = 0
        self._lock = Lock()
        self._pending: dict[str, Event] = {}

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._items)

    def get_or_compute(self, key: str, compute: Callable[[], SearchResult]) -> SearchResult:
        with self._lock:
            hit = self._lookup(key)
            if hit is not None:
                return hit
            pending = self._pending.get(key)
            owner = pending is None
            if owner:
                pending = self._pending[key] = Event()
        assert pending is not None
        if not owner:
            pending.wait(WAIT_FOR_PEER_S)
            with self._lock:
                hit = self._lookup(key)
            return hit if hit is not None else compute()  # the peer failed or its result was evicted
        try:
            result = compute()
            with self._lock:
                self._store(key, result)
            return result
        finally:
            with self._lock:
                self._pending.pop(key, None)
            pending.set()

    def _lookup(self, key: str) -> SearchResult | None:
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
        return hit

    def _store(self, key: str, result: SearchResult) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes()
        self._items[key] = result
        self._bytes += result.nbytes()
        while len(self._items) > 1 and (len(self._items) > self.entries or self._bytes > self.max_bytes):
            _, evicted = self._items.popitem(last=False)
            self._bytes -= evicted.nbytes()

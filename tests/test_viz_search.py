"""The dashboard's search is bounded: query length and terms, scan time, cache size, request size.

Behaviour only (what is cut, what the user is told, what the cache holds); the time it takes is
measured by bench/bench_viz.py, not asserted here.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from tests.viz_fixtures import small_tree
from topicmap.viz import callbacks as cb
from topicmap.viz.index import TreeIndex
from topicmap.viz.search import MAX_QUERY_CHARS, MAX_QUERY_TERMS, SCAN_CHUNK, SearchCache, SearchResult, match_rows, parse_query
from topicmap.viz.synthetic import synthetic_tree


def _text(components: list[Any]) -> str:
    out: list[str] = []

    def walk(c: Any) -> None:
        if isinstance(c, str):
            out.append(c)
        children = getattr(c, "children", None)
        for child in children if isinstance(children, (list, tuple)) else [children] if children is not None else []:
            walk(child)

    for component in components:
        walk(component)
    return " ".join(out)


def test_a_huge_query_is_cut_to_bounded_terms_and_the_user_is_told() -> None:
    index = TreeIndex(small_tree())
    hostile = "brine " * 200_000  # 1.2 MB, one word repeated
    result = index.search(hostile)
    assert result.terms == ("brine",) and result.shortened and len(result.doc_rows) == 3
    many = " ".join(f"word{k:03d}" for k in range(40))
    assert len(index.search(many).terms) == MAX_QUERY_TERMS
    panel = _text(cb.search_results(index, hostile))
    assert "Search: brine" in panel and f"shortened to its first {MAX_QUERY_CHARS} characters" in panel
    assert "3 documents" in panel
    assert "shortened" not in _text(cb.search_results(index, "brine"))  # an ordinary query says nothing
    # the chart and the map use the same bounded search
    trace = cb.chart_figure(index, None, 2, "sunburst", hostile, None)["data"][0]
    assert [i for i, w in zip(trace["ids"], trace["marker"]["line"]["width"]) if w == 2.5] == ["1", "1.1"]
    assert cb.map_highlight(index, None, None, hostile)


def test_repeated_and_contained_terms_are_one_term_in_any_order() -> None:
    query = parse_query("The the THERE there")
    assert query.terms == ("there",) and not query.shortened
    assert parse_query("lemons brine").key == parse_query("BRINE   lemons").key
    index = TreeIndex(small_tree())
    assert index.search("brine lemons") is index.search("lemons brine")
    assert not parse_query("x" * MAX_QUERY_CHARS).shortened and parse_query("x" * (MAX_QUERY_CHARS + 1)).shortened


def test_the_cache_is_bounded_in_entries_key_length_and_bytes() -> None:
    index = TreeIndex(small_tree(), search_cache_size=8)
    for k in range(30):
        index.search(f"q{k} " + "filler " * 100_000 + f"tail{k}")  # distinct, 700 KB each
    assert len(index.search_cache) == 8
    assert all(len(key) <= MAX_QUERY_CHARS for key in index.search_cache.keys())
    # bytes: results holding many rows push older ones out, the newest is always kept
    big = TreeIndex(synthetic_tree(n_docs=10_000, schedule=(3, 4), seed=0), search_cache_bytes=200_000, search_budget_s=None)
    for syllable in ("ka", "lo", "mi", "ne", "ru", "ta"):  # each is in most documents: ~70 KB of rows
        assert len(big.search(syllable).doc_rows) > 5_000
        assert big.search_cache.nbytes <= 200_000 or len(big.search_cache) == 1
    assert 1 <= len(big.search_cache) < 6


def test_the_scan_stops_at_its_budget_and_the_user_is_told() -> None:
    tree = synthetic_tree(n_docs=10_000, schedule=(3, 4), seed=0)
    stopped = TreeIndex(tree, search_budget_s=0.0)  # spent after the first chunk
    result = stopped.search("ka")
    assert not result.complete and result.docs_scanned == SCAN_CHUNK and result.docs_total == 10_000
    assert len(result.doc_rows) and int(result.doc_rows.max()) < SCAN_CHUNK
    panel = _text(cb.search_results(stopped, "ka"))
    assert f"stopped at its time limit after {SCAN_CHUNK:,} of 10,000 documents" in panel
    full = TreeIndex(tree, search_budget_s=None).search("ka")
    assert full.complete and np.array_equal(full.doc_rows[full.doc_rows < SCAN_CHUNK], result.doc_rows)
    texts = TreeIndex(tree).doc_search_text
    expected = [i for i, t in enumerate(texts) if "ka" in t and "lo" in t]
    assert match_rows(texts, ("ka", "lo"))[0].tolist() == expected


def test_concurrent_requests_for_one_query_compute_it_once() -> None:
    cache = SearchCache(entries=4)
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def compute() -> SearchResult:
        calls.append(1)
        started.set()
        release.wait(10)
        return SearchResult("brine", np.arange(3), ())

    results: list[SearchResult] = []
    first = threading.Thread(target=lambda: results.append(cache.get_or_compute("brine", compute)))
    first.start()
    assert started.wait(10)
    others = [threading.Thread(target=lambda: results.append(cache.get_or_compute("brine", compute))) for _ in range(3)]
    for t in others:
        t.start()
    threading.Event().wait(0.2)  # let them queue behind the first (ordering only, nothing is timed)
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert len(calls) == 1 and len(results) == 4 and all(r is results[0] for r in results)


def test_request_bodies_are_limited_and_a_long_query_is_answered() -> None:
    from topicmap.viz import create_app
    from topicmap.viz.app import max_request_bytes

    app = create_app(small_tree())
    client = app.server.test_client()
    limit = max_request_bytes(36)
    assert app.server.config["MAX_CONTENT_LENGTH"] == limit
    too_big = client.post("/_dash-update-component", data=b"x" * (limit + 1), content_type="application/json")
    assert too_big.status_code == 413
    query = "brine " + "the " * 2_000_000  # 8 MB: under the limit, read only up to MAX_QUERY_CHARS
    body = {
        "output": "search-results.children",
        "outputs": {"id": "search-results", "property": "children"},
        "inputs": [{"id": "search", "property": "value", "value": query}],
        "changedPropIds": ["search.value"],
        "state": [],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "search-notice" in text and "0 documents" in text and len(text) < 20_000

"""Topics over time: reading a time column, periods, counts, growth, the tree file's times, `topicmap trends`, assign."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.inputs.dates import detect_format, parse_value, read_time_column
from topicmap.hierarchy.base.errors import InputError, TreeFileError
from topicmap.hierarchy.inputs.documents import read_documents
from topicmap.hierarchy.tree.topic_tree import Document, Node, TopicTree
from topicmap.hierarchy.tree.treefile import SCHEMA_VERSION, load_schema, load_tree, save_tree, tree_from_dict, tree_to_dict
from topicmap.hierarchy.analysis.trends import movers, node_period_counts, share_growth, tree_trends
from topicmap.hierarchy.inputs.periods import choose_period, period_label, period_ordinals
from tests.cli_helpers import invoke_cli
from tests.trend_fixtures import FALLING, FLAT, RISING, dated_rows, node_of_top, write_dated_corpus

V1_FILE = Path(__file__).parent / "data" / "tree-v1.json"  # written by topicmap before times existed


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


# -- reading a time column -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        ("2024-03-05", "iso", utc(2024, 3, 5)),
        ("2024-03-05T14:30:00Z", "iso", utc(2024, 3, 5, 14, 30)),
        ("2024-03-05 14:30", "iso", utc(2024, 3, 5, 14, 30)),  # naive: UTC
        ("2024-03-05T14:30:00+02:00", "iso", utc(2024, 3, 5, 12, 30)),
        ("2024-03-05T14:30:00.250-0100", "iso", utc(2024, 3, 5, 15, 30) + 0.25),
        (datetime(2024, 3, 5, 14, 30), "iso", utc(2024, 3, 5, 14, 30)),
        (2019, "year", utc(2019, 1, 1)),
        (" 2019 ", "year", utc(2019, 1, 1)),
        (1_700_000_000, "epoch", 1_700_000_000.0),
        ("1700000000.5", "epoch", 1_700_000_000.5),
        (-86400, "epoch", -86400.0),
    ],
)
def test_each_format_reads_to_utc_seconds(value: object, fmt: str, expected: float) -> None:
    assert parse_value(value, fmt) == pytest.approx(expected)


def test_the_format_is_detected_per_column_from_all_its_values() -> None:
    assert detect_format(["2020", "2021", 2022]) == "year"
    assert detect_format([1_600_000_000, 1_600_086_400, "1600172800"]) == "epoch"
    assert detect_format([1_600_000_000, 1_600_086_400, 2020]) == "epoch"  # a stray 4-digit number does not make years
    assert detect_format(["2020-01-02", "2020-01-03T10:00Z", "junk"]) == "iso"
    assert detect_format(["", None, "junk"]) is None
    # years and epoch seconds of the same column are told apart by the column, not by each value
    column = read_time_column([("row 1", 2019), ("row 2", 2020), ("row 3", 2021)], "f.csv", "year")
    assert column.format == "year" and column.times[0] == utc(2019, 1, 1)


@pytest.mark.parametrize(
    ("values", "bad_row", "shown", "why"),
    [
        (["2024-01-05", "2024-01-06", "2024-13-01"], 3, "'2024-13-01'", "month must be in 1..12"),
        (["2024-01-05", "2024-01-06", "yesterday", "2024-01-07"], 3, "'yesterday'", "not an ISO date"),
        (["2024-01-05", "", "2024-01-07"], 2, "''", "is empty"),
        (["1999", "2000", "2001", "20x1"], 4, "'20x1'", "not a year"),
        (["1999", "2000", "2001", "850"], 4, "'850'", "not a year between 1000 and 2999"),
        (["1700000000", "1700086400", "1700172800000"], 3, "'1700172800000'", "milliseconds"),
        (["1700000000", "1700086400", "soon"], 3, "'soon'", "not a number of seconds"),
    ],
)
def test_a_bad_value_stops_with_one_line_naming_file_row_column_and_value(tmp_path: Path, values: list[str], bad_row: int, shown: str, why: str) -> None:
    path = tmp_path / "docs.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "when"])
        writer.writerows([[f"document number {i}", v] for i, v in enumerate(values)])
    with pytest.raises(InputError) as caught:
        read_documents(path, time_column="when")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: row {bad_row}: field 'when' {shown}") and why in message and "--skip-bad-dates" in message
    kept = read_documents(path, time_column="when", skip_bad_dates=True)
    assert kept.time is not None and kept.time.bad == [f"row {bad_row}"]
    assert np.isnan(kept.time.times[bad_row - 1]) and np.isfinite(np.delete(kept.time.times, bad_row - 1)).all()
    assert "when" not in kept.metadata[0]  # stored as the document's time, not again as metadata


def test_jsonl_errors_name_the_line_and_a_missing_column_names_the_option(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "a", "date": "2024-01-01"}\n{"text": "b", "date": true}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"docs.jsonl: line 2: field 'date' True is"):
        read_documents(path, time_column="date")
    with pytest.raises(InputError, match=r"no column 'published' .*--time-column"):
        read_documents(path, time_column="published")


# -- periods, counts, growth (pure functions) ------------------------------------------------------
def test_periods_have_calendar_boundaries_and_sortable_names() -> None:
    times = np.array([utc(2024, 3, 5, 23, 59), utc(2024, 3, 10), utc(2024, 3, 11), utc(1969, 12, 31, 12)])
    expected = {
        "day": ["2024-03-05", "2024-03-10", "2024-03-11", "1969-12-31"],
        "week": ["2024-03-04", "2024-03-04", "2024-03-11", "1969-12-29"],  # weeks start on Monday
        "month": ["2024-03", "2024-03", "2024-03", "1969-12"],
        "quarter": ["2024-Q1", "2024-Q1", "2024-Q1", "1969-Q4"],
        "year": ["2024", "2024", "2024", "1969"],
    }
    for period, names in expected.items():
        assert [period_label(int(o), period) for o in period_ordinals(times, period)] == names, period


def test_auto_period_fits_the_span_and_the_number_of_documents() -> None:
    day = 86_400.0
    assert choose_period(np.linspace(0, 30 * day, 1000)) == "day"
    assert choose_period(np.linspace(0, 300 * day, 1000)) == "week"
    assert choose_period(np.linspace(0, 730 * day, 1000)) == "month"
    assert choose_period(np.linspace(0, 730 * day, 100)) == "quarter"  # 100 documents: about 10 per period
    assert choose_period(np.linspace(0, 40 * 365 * day, 10_000)) == "year"
    assert choose_period(np.linspace(0, 30 * day, 1000), finest="year") == "year"  # a year column is never split


def test_counts_go_up_the_tree() -> None:
    parent = np.array([-1, 0, 0, 1, 1])
    depth = np.array([0, 1, 1, 2, 2])
    counts = node_period_counts(np.array([3, 3, 4, 2, 2]), np.array([0, 1, 1, 0, 2]), parent, depth, 3)
    assert counts.tolist() == [[2, 2, 1], [1, 2, 0], [1, 0, 1], [1, 1, 0], [0, 1, 0]]


def test_growth_recovers_a_known_trend_with_an_honest_interval() -> None:
    rng = np.random.default_rng(0)
    periods = 24
    totals = rng.integers(80, 160, periods)
    t = np.arange(periods) / (periods - 1)
    share = 0.05 + 0.15 * t  # 5% -> 20%: odds 0.053 -> 0.25, a 4.75-fold change from first to last
    covered = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        rising = rng.binomial(totals, share)
        flat = rng.binomial(totals, 0.3)
        growth = share_growth(np.vstack([totals, rising, flat]), totals, np.arange(periods, dtype=float))
        assert np.isnan(growth.slope[0])  # the root holds every document: no growth
        assert growth.low[1] > 0  # rising is always found rising
        covered += growth.low[1] <= np.log(4.75) <= growth.high[1]
        covered += growth.low[2] <= 0 <= growth.high[2]
    assert covered >= 0.85 * 80  # the 95% intervals cover the truth about as often as they should


def test_growth_is_shown_as_the_ratio_of_fitted_shares_last_to_first() -> None:
    periods = 12
    totals = np.full(periods, 100_000)
    t = np.linspace(-0.5, 0.5, periods)
    level, slope = np.log(0.3 / 0.7), 2.0  # share 20.1% at the start, 41.6% at the end
    share = 1 / (1 + np.exp(-(level + slope * t)))
    growth = share_growth(np.vstack([totals, np.round(totals * share)]), totals, t)
    mid, low, high = growth.ratio(1)
    assert mid == pytest.approx(share[-1] / share[0], rel=0.01) and low < mid < high
    assert growth.slope[1] == pytest.approx(slope, rel=0.01)
    ratios = growth.share_ratios()
    assert np.isnan(ratios[0][0]) and ratios[0][1] == pytest.approx(mid)


def test_growth_is_finite_for_a_new_topic_and_missing_with_too_few_periods() -> None:
    totals = np.array([50, 50, 50, 50])
    new = np.array([0, 0, 10, 30])
    growth = share_growth(np.vstack([totals, new]), totals, np.arange(4.0))
    assert np.isfinite(growth.slope[1]) and growth.low[1] > 0
    short = share_growth(np.vstack([totals[:2], new[:2]]), totals[:2], np.arange(2.0))
    assert np.isnan(short.slope).all()


def test_movers_rank_by_the_sure_end_of_the_interval() -> None:
    totals = np.full(12, 400)
    t = np.linspace(0, 1, 12)
    counts = np.vstack([
        totals,
        np.round(totals * (0.10 + 0.20 * t)),  # rising a lot, many documents
        np.round(totals * (0.30 - 0.20 * t)),  # falling
        np.round(totals * 0.30),  # flat
        np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2]),  # tiny: a big ratio but a wide interval
    ])
    rising, falling = movers(share_growth(counts, totals, np.arange(12.0)), np.arange(1, 5), top=3)
    assert rising[0] == 1 and 3 not in rising and falling == [2]


# -- the tree file -------------------------------------------------------------------------------
def test_a_version_1_file_still_loads_and_saves_as_the_current_version(tmp_path: Path) -> None:
    raw = json.loads(V1_FILE.read_text(encoding="utf-8"))
    assert raw["schema_version"] == 1 and "time" not in raw["documents"][0]
    tree = load_tree(V1_FILE)
    assert len(tree.documents) == 72 and all(d.time is None for d in tree.documents)
    assert tree_trends(tree) is None
    saved = save_tree(tree, tmp_path / "again.json")
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["schema_version"] == SCHEMA_VERSION == 2
    assert [n["id"] for n in data["nodes"]] == [n["id"] for n in raw["nodes"]]
    # a version-1 file is checked against version 1's schema, and times in it are not believed
    raw["documents"][0]["time"] = 1.7e9
    raw["manifest"]["time"] = {"column": "x", "format": "iso"}
    old = tree_from_dict(raw)
    assert old.documents[0].time is None and "time" not in old.manifest
    raw["documents"][0]["x"] = "left"
    with pytest.raises(TreeFileError, match="invalid at documents/0/x"):
        tree_from_dict(raw)


def test_times_round_trip_and_bad_times_are_refused(tmp_path: Path) -> None:
    nodes = [Node("root", None, 0, 2), Node("0", "root", 1, 1), Node("1", "root", 1, 1)]
    docs = [Document("a", "0", "alpha", time=utc(2024, 1, 2)), Document("b", "1", "beta")]
    tree = TopicTree(nodes, docs, manifest={"time": {"column": "date", "format": "iso", "dated": 1, "undated": 1}})
    loaded = load_tree(save_tree(tree, tmp_path / "t.json"))
    assert [d.time for d in loaded.documents] == [utc(2024, 1, 2), None]
    assert loaded.manifest["time"]["column"] == "date"
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(load_schema(1))
    jsonschema.Draft202012Validator.check_schema(load_schema(2))
    data = tree_to_dict(tree)
    data["documents"][0]["time"] = "2024-01-02"
    with pytest.raises(TreeFileError, match="invalid at documents/0/time"):
        tree_from_dict(data, "t.json")
    data = tree_to_dict(tree)
    data["manifest"]["time"]["format"] = "moon phases"
    with pytest.raises(TreeFileError, match="invalid at manifest/time/format"):
        tree_from_dict(data, "t.json")


# -- the command line ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dated_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dated")
    docs, emb = write_dated_corpus(folder)
    result = invoke_cli("build", str(docs), "--embeddings", str(emb), "--time-column", "date", "-o", str(folder / "dated.tree.json"), "-q", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder / "dated.tree.json"


def test_build_stores_times_and_trends_finds_the_rising_and_falling_topics(dated_tree: Path) -> None:
    tree = load_tree(dated_tree)
    assert all(d.time is not None for d in tree.documents)
    assert tree.manifest["time"] == {"column": "date", "format": "iso", "dated": 960, "undated": 0, "period": "auto"}
    result = invoke_cli("trends", str(dated_tree), cwd=dated_tree.parent)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    rising_block, falling_block = out.split("fastest rising:")[1].split("fastest falling:")
    first_rising = rising_block.split()[0]
    first_falling = falling_block.split()[0]
    assert first_rising == node_of_top(tree, RISING) and first_falling == node_of_top(tree, FALLING)
    flat = node_of_top(tree, FLAT)
    assert f"\n  {flat} " not in out  # the topic with a constant share is in neither list
    assert "24 months, 2022-01 to 2023-12" in out


def test_trends_csv_is_written_atomically_and_spreadsheet_safe(dated_tree: Path, tmp_path: Path) -> None:
    tree = load_tree(dated_tree)
    top = node_of_top(tree, RISING)
    tree.node(top).label = "=HYPERLINK(\"http://x\")"
    renamed = save_tree(tree, tmp_path / "renamed.tree.json")
    out = tmp_path / "trends.csv"
    result = invoke_cli("trends", str(renamed), "--depth", "1", "--period", "quarter", "-o", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stderr and not list(tmp_path.glob(".*tmp*"))
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["node", "label", "period", "count", "share"]
    assert {r["period"] for r in rows} == {f"{y}-Q{q}" for y in (2022, 2023) for q in range(1, 5)}
    assert len(rows) == 4 * 8  # root + 3 topics, 8 quarters
    mine = [r for r in rows if r["node"] == top]
    assert mine[0]["label"].startswith("'=")
    assert float(mine[0]["share"]) < 0.25 < 0.5 < float(mine[-1]["share"])
    root = [r for r in rows if r["node"] == "root"]
    assert sum(int(r["count"]) for r in root) == 960 and {r["share"] for r in root} == {"1.0"}


def test_trends_refuses_an_undated_tree_and_a_period_finer_than_years(dated_tree: Path, tmp_path: Path) -> None:
    result = invoke_cli("trends", str(V1_FILE), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "no document has a date" in result.stderr and "--time-column" in result.stderr
    rows, vectors = dated_rows(months=36, per_month=20, fmt="year")
    docs = tmp_path / "years.jsonl"
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    np.save(tmp_path / "years.npy", vectors)
    assert invoke_cli("build", str(docs), "--embeddings", str(tmp_path / "years.npy"), "--time-column", "date", "-o", "years.json", "-q", cwd=tmp_path).returncode == 0
    assert load_tree(tmp_path / "years.json").manifest["time"]["format"] == "year"
    refused = invoke_cli("trends", "years.json", "--period", "month", cwd=tmp_path)
    assert refused.returncode == 2 and "no period finer than a year" in refused.stderr
    assert "3 years, 2022 to 2024" in invoke_cli("trends", "years.json", cwd=tmp_path).stdout


def test_build_with_skip_bad_dates_keeps_documents_undated_and_says_how_many(tmp_path: Path) -> None:
    rows, vectors = dated_rows(months=12, per_month=20, fmt="epoch")
    rows[3]["date"] = "next week"
    rows[10]["date"] = None
    docs = tmp_path / "epoch.jsonl"
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    np.save(tmp_path / "epoch.npy", vectors)
    args = ("build", str(docs), "--embeddings", str(tmp_path / "epoch.npy"), "--time-column", "date", "-q")
    stopped = invoke_cli(*args, cwd=tmp_path)
    assert stopped.returncode == 2 and stopped.stderr.startswith("error: ") and stopped.stderr.count("\n") == 1
    assert "epoch.jsonl: line 4: field 'date' 'next week' is not a number of seconds" in stopped.stderr
    assert not (tmp_path / "epoch.tree.json").exists()
    kept = invoke_cli(*args, "--skip-bad-dates", cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
    assert "kept 2 documents undated: their 'date' was empty or unreadable (line 4, line 11)" in kept.stderr
    tree = load_tree(tmp_path / "epoch.tree.json")
    assert tree.manifest["time"]["undated"] == 2 and tree.manifest["time"]["format"] == "epoch"
    assert tree.documents[3].time is None and tree.documents[4].time is not None
    assert tree_trends(tree).undated == 2  # type: ignore[union-attr]


def test_assign_reads_the_trees_time_column_and_the_new_documents_count(tmp_path: Path) -> None:
    rows, vectors = dated_rows(months=24, per_month=40)
    old = [i for i, r in enumerate(rows) if r["date"] < "2023-07"]
    new = [i for i, r in enumerate(rows) if r["date"] >= "2023-07"]
    for name, picked in (("old", old), ("new", new)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(rows[i]) + "\n" for i in picked), encoding="utf-8")
        np.save(tmp_path / f"{name}.npy", vectors[picked])
    assert invoke_cli("build", "old.jsonl", "--embeddings", "old.npy", "--time-column", "date", "-o", "tree.json", "-q", cwd=tmp_path).returncode == 0
    before = tree_trends(load_tree(tmp_path / "tree.json"))
    assert before is not None and before.labels[-1] == "2023-06"
    placed = invoke_cli("assign", "tree.json", "new.jsonl", "--embeddings", "new.npy", "-q", cwd=tmp_path)
    assert placed.returncode == 0, placed.stderr
    tree = load_tree(tmp_path / "tree.json")
    after = tree_trends(tree)
    assert after is not None and after.labels[-1] == "2023-12" and after.dated == len(rows)
    assert tree.manifest["time"]["dated"] == len(rows)
    rising = node_of_top(tree, RISING)
    assert after.counts[after.node_ids.index(rising)][-1] == round(40 * 0.60)
    # a new document without a readable date: stopped, or kept undated
    bad = dict(rows[new[0]], id="late-1", date="someday")
    (tmp_path / "late.jsonl").write_text(json.dumps(bad) + "\n", encoding="utf-8")
    np.save(tmp_path / "late.npy", vectors[new[:1]])
    stopped = invoke_cli("assign", "tree.json", "late.jsonl", "--embeddings", "late.npy", "-q", cwd=tmp_path)
    assert stopped.returncode == 2 and "late.jsonl: line 1: field 'date' 'someday'" in stopped.stderr
    kept = invoke_cli("assign", "tree.json", "late.jsonl", "--embeddings", "late.npy", "--skip-bad-dates", cwd=tmp_path)
    assert kept.returncode == 0 and "kept 1 documents undated" in kept.stderr
    assert load_tree(tmp_path / "tree.json").manifest["time"]["undated"] == 1


def test_the_python_api_takes_a_time_column(tmp_path: Path) -> None:
    from topicmap import InputError as ApiInputError
    from topicmap import TopicMap

    rows, vectors = dated_rows(months=12, per_month=20)
    fitted = TopicMap(time_column="date", seed=0).fit(rows, vectors)
    table = fitted.trends(max_depth=1, as_frame=False)
    rising = node_of_top(fitted.tree_, RISING)
    mine = [r for r in table if r["node"] == rising]
    assert len(mine) == 12 and mine[0]["growth_low"] > 1
    loaded = TopicMap.load(fitted.save(tmp_path / "api.json"))
    assert loaded.time_column == "date" and loaded.trends(max_depth=0, as_frame=False)[0]["node"] == "root"
    rows[2]["date"] = "2022-02-30"
    with pytest.raises(ApiInputError, match=r"documents\[2\]: field 'date' '2022-02-30'"):
        TopicMap(time_column="date").fit(rows, vectors)
    assert TopicMap(time_column="date", skip_bad_dates=True).fit(rows, vectors).tree_.manifest["time"]["undated"] == 1


def test_period_options_are_checked_before_any_work(tmp_path: Path) -> None:
    rows, vectors = dated_rows(months=36, per_month=20, fmt="year")
    docs = tmp_path / "years.jsonl"
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    np.save(tmp_path / "years.npy", vectors)
    no_column = invoke_cli("build", str(docs), "--embeddings", "years.npy", "--period", "month", cwd=tmp_path)
    assert no_column.returncode == 2 and "--period month counts documents over time" in no_column.stderr
    too_fine = invoke_cli("build", str(docs), "--embeddings", "years.npy", "--time-column", "date", "--period", "week", cwd=tmp_path)
    assert too_fine.returncode == 2 and "no period finer than a year" in too_fine.stderr
    unknown = invoke_cli("trends", str(V1_FILE), "--period", "decade", cwd=tmp_path)
    assert unknown.returncode == 2 and "--period 'decade': choose one of auto, day" in unknown.stderr
    assert not list(tmp_path.glob("*.tree.json"))
    built = invoke_cli("build", str(docs), "--embeddings", "years.npy", "--time-column", "date", "--period", "year", "-o", "y.json", cwd=tmp_path)
    assert built.returncode == 0 and load_tree(tmp_path / "y.json").manifest["time"]["period"] == "year"
    info = invoke_cli("info", "y.json", "--depth", "0", cwd=tmp_path)
    assert "times: column 'date' (year), 720 dated, 0 undated" in info.stdout


def test_a_tree_dated_in_too_few_periods_says_there_is_no_growth_figure() -> None:
    from topicmap.hierarchy.analysis.trends_report import trends_summary
    from tests.viz_fixtures import small_tree
    from topicmap.viz.index import TreeIndex
    from topicmap.viz.layout import build_layout

    tree = small_tree()
    for doc in tree.documents:
        doc.time = utc(2023, 11, 14)
    trends = tree_trends(tree)
    assert trends is not None and trends.labels == ["2023-11-14"] and np.isnan(trends.growth.slope).all()
    text = trends_summary(tree, trends, 2)
    assert "in 1 day, 2023-11-14 to 2023-11-14" in text and "no growth figures: fewer than 3 days" in text
    layout = str(build_layout(TreeIndex(tree)))
    assert "trend-panel" in layout and "chart-color-choice" not in layout  # lines yes, colour by growth no


def test_native_timestamps_from_parquet_and_pandas_are_read_as_dates(tmp_path: Path) -> None:
    import datetime as dt

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "text": ["alpha text", "beta text", "gamma text"],
        "stamp": pa.array([dt.datetime(2024, 1, 2, 3, 4), dt.datetime(2024, 2, 1), dt.datetime(2024, 3, 1)], pa.timestamp("s")),
        "day": pa.array([dt.date(2020, 5, 1), dt.date(2020, 6, 1), dt.date(2020, 7, 1)], pa.date32()),
    })
    pq.write_table(table, tmp_path / "docs.parquet")
    stamps = read_documents(tmp_path / "docs.parquet", time_column="stamp").time
    days = read_documents(tmp_path / "docs.parquet", time_column="day").time
    assert stamps is not None and stamps.format == "iso" and stamps.times[0] == utc(2024, 1, 2, 3, 4)
    assert days is not None and days.times.tolist() == [utc(2020, 5, 1), utc(2020, 6, 1), utc(2020, 7, 1)]
    from topicmap._documents import corpus_from_documents

    frame = pd.DataFrame({"text": ["a one", "b two", "c three"], "when": pd.to_datetime(["2021-01-01", None, "2021-03-01"], utc=True)})
    with pytest.raises(InputError, match=r"documents \(DataFrame\): row 1: field 'when' None is empty"):
        corpus_from_documents(frame, time_column="when")
    kept = corpus_from_documents(frame, time_column="when", skip_bad_dates=True).time
    assert kept is not None and kept.times[0] == utc(2021, 1, 1) and np.isnan(kept.times[1])

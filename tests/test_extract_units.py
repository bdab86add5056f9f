"""The pieces of ``topicmap extract``: JSON repair, per-facet validation, facet sets and their pinned versions."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.extract.stage import DocumentText, ExtractOptions, FacetExtractor, answer_schema
from topicmap.hierarchy.extract.table import default_output
from topicmap.hierarchy.extract.validate import ExtractRules, echoes_title, read_facet_answer
from topicmap.hierarchy.extract.facets import builtin_sets, choose_facets, extract_prompt, load_builtin_set, parse_facet_set
from topicmap.hierarchy.llm.json_repair import NotJSON, parse_answer_object
from topicmap.hierarchy.labels.validate import InvalidAnswer
from topicmap.hierarchy.llm.client import LLMConfig, response_formats
from topicmap.hierarchy.llm.cache import AnswerCache
from topicmap.hierarchy.llm.prompting import builtin_versions

FACETS = ["problem", "method", "finding"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": "x"}', {"a": "x"}),
        ('Sure!\n```json\n{"a": "x",}\n```\nHope this helps.', {"a": "x"}),
        ("{'a': 'it works', b: None, 'c': True}", {"a": "it works", "b": None, "c": True}),
        ('{"a": "two\nlines", "b": "cut off in the mid', {"a": "two lines", "b": "cut off in the mid"}),
        ('{"a": ["x", "y",], "b":', {"a": ["x", "y"], "b": ""}),
        ("{\u201ca\u201d: \u201cx\u201d}", {"a": "x"}),
        ('{"a": "say \\"hi\\""} and then {"b": 2}', {"a": 'say "hi"'}),
        ('<think>The keys are {a}. Fine.</think>\n{"a": "x"}', {"a": "x"}),
    ],
)
def test_near_miss_json_is_repaired(text: str, value: dict[str, object]) -> None:
    assert parse_answer_object(text).value == value


def test_valid_json_is_not_marked_repaired_and_non_json_is_an_error() -> None:
    assert parse_answer_object('{"a": 1}').repaired is False
    assert parse_answer_object("{'a': 1}").repaired is True
    with pytest.raises(NotJSON, match="not a JSON object"):
        parse_answer_object("The problem is X.")
    with pytest.raises(NotJSON, match="not valid JSON"):
        parse_answer_object('{"a": [1, 2}}}')


def check(answer: str) -> tuple[dict[str, str], dict[str, str]]:
    result = read_facet_answer(answer, FACETS, ExtractRules(), "Answer with one JSON object and nothing else")
    return result.values, result.problems


def test_notes_are_cleaned_for_free() -> None:
    values, problems = check(
        '{"Problem": "- The paper addresses slow attention in long texts.", "METHOD": ["A sparse pattern.", "Tested on books."], '
        '"finding": "Not stated."}'
    )
    assert problems == {}
    assert values == {"problem": "Slow attention in long texts.", "method": "A sparse pattern. Tested on books.", "finding": ""}


def test_each_facet_is_judged_on_its_own() -> None:
    values, problems = check('{"problem": "Slow attention.", "method": "<note>", "finding": "Slow attention."}')
    assert values == {"problem": "Slow attention."}
    assert "placeholder" in problems["method"] and 'repeats the note of "problem"' in problems["finding"]
    values, problems = check('{"problem": "Slow attention.", "method": 3}')
    assert problems == {"method": '"method" must be a string', "finding": 'the JSON object has no "finding"'}
    _, problems = check('{"problem": "n/a", "method": "not stated", "finding": ""}')
    assert set(problems) == set(FACETS) and 'every note is "not stated"' in problems["problem"]
    with pytest.raises(InvalidAnswer, match="not a JSON object"):
        check("I cannot help with that.")


def test_a_long_note_is_cut_after_a_sentence_and_a_copied_instruction_is_rejected() -> None:
    first = "A first sentence about the method, " + "which goes on " * 10 + "to the end."
    values, _ = check(f'{{"problem": "x y z", "method": "{first} ' + "More words here " * 30 + '", "finding": "B b"}')
    assert values["method"] == first
    values, _ = check('{"problem": "x y z", "method": "' + "word " * 200 + '", "finding": "B b"}')
    assert len(values["method"]) <= 400 and values["method"].endswith("\u2026")
    _, problems = check('{"problem": "Answer with one JSON object and nothing else", "method": "A", "finding": "B b"}')
    assert "copies the instructions" in problems["problem"] and "too short" in problems["method"] and "finding" not in problems


def test_facet_sets_are_versioned_and_pinned() -> None:
    released = tomllib.loads(resources.files("topicmap.prompts").joinpath("released.toml").read_text("utf-8"))
    assert builtin_sets() == ["general", "papers"]
    for name in builtin_sets():
        assert load_builtin_set(name).hash == released["facets"][name]["v1"], f"facet set {name}@v1 changed after release: add v2"
    for version in builtin_versions("extract_facets"):
        assert extract_prompt(version).hash == released["extract_facets"][version], f"extract_facets@{version} changed after release: add a new version"
    assert load_builtin_set("papers").names == ["problem", "method", "finding"]
    assert load_builtin_set("general@v1").names == ["subject", "purpose", "outcome"]


def test_choosing_facets_by_name_set_and_file() -> None:
    mine = parse_facet_set('[facets]\ndataset = "The data used."\nproblem = "The question asked."\n', "file:mine-1", "mine.toml")
    assert choose_facets(None, None, None).id == "papers@v1"
    assert choose_facets(["subject", "outcome"], None, None).names == ["subject", "outcome"]  # found in the general set
    assert choose_facets(None, None, mine).names == ["dataset", "problem"]
    both = choose_facets(["problem", "method"], None, mine)
    assert both.facets[0].instruction == "The question asked." and both.id == "papers@v1+file:mine-1"  # the file wins
    assert choose_facets(["dataset"], None, mine).id == "file:mine-1"
    with pytest.raises(InputError, match="no facet 'mood'"):
        choose_facets(["mood"], "general", None)


def test_the_prompt_fits_the_budget_and_changes_with_the_facets() -> None:
    options = ExtractOptions(extract_prompt(), choose_facets(None, None, None), max_prompt_tokens=500)
    extractor = FacetExtractor([], LLMConfig(model="m"), options, AnswerCache(None))
    long = DocumentText("line 1", "word " * 5000, "A title")
    prompt = extractor.prompt(long)
    assert prompt.truncated and prompt.tokens <= 500 and prompt.messages[1]["content"].count("word") > 50
    short = extractor.prompt(DocumentText("line 2", "Short text."))
    assert not short.truncated and "Title:" not in short.messages[1]["content"]
    general = FacetExtractor([], LLMConfig(model="m"), ExtractOptions(extract_prompt(), choose_facets(None, "general", None)), AnswerCache(None))
    assert general.prompt(DocumentText("line 2", "Short text.")).key != short.key


def test_response_formats_go_from_schema_to_plain_json() -> None:
    schema = answer_schema(["a"])
    kinds = [f["type"] + ("+schema" if "schema" in f else "") for f in response_formats(LLMConfig(model="m", json_schema=schema))]
    assert kinds == ["json_schema", "json_object+schema", "json_object"]
    assert response_formats(LLMConfig(model="m")) == [{"type": "json_object"}]  # the labeller's requests are unchanged


@pytest.mark.parametrize(
    ("name", "out"),
    [("docs.jsonl", "docs.facets.jsonl"), ("docs.jsonl.gz", "docs.facets.jsonl.gz"), ("my.data.csv", "my.data.facets.csv"), ("p.parquet", "p.facets.parquet")],
)
def test_default_output_name(name: str, out: str) -> None:
    from pathlib import Path

    assert default_output(Path("/x") / name) == Path("/x") / out


def test_progress_bar_shows_documents_calls_cache_hits_and_failures(capsys: pytest.CaptureFixture[str]) -> None:
    from topicmap.hierarchy.cli.extract import _Progress
    from topicmap.hierarchy.extract.stage import ExtractReport

    bar = _Progress(5, enabled=True)
    bar.update(ExtractReport("m", "p", "s", FACETS, planned=5, done=3, calls=4, cache_hits=1, failed=1))
    bar.close()
    err = capsys.readouterr().err
    assert "extract" in err and "3/5" in err and "calls=4" in err and "cached=1" in err and "failed=1" in err


def test_a_note_that_is_the_title_or_borrows_the_prompts_example_is_sent_back() -> None:
    instructions = 'Each note starts with the thing itself ("Detecting tumours in X-ray images ...").'
    title = "Sparse attention for long documents"
    document = f"{title}\nAttention cost grows with the square of the length. We keep a few links per token."

    def problems(note: str) -> dict[str, str]:
        answer = f'{{"problem": "{note}", "method": "A few links per token.", "finding": "Cost grows linearly."}}'
        return read_facet_answer(answer, FACETS, ExtractRules(), instructions, title, document).problems

    assert "only the document's title" in problems("Sparse attention for long documents.")["problem"]
    borrowed = problems("Detecting tumours in X-ray images requires attention over long inputs.")["problem"]
    assert 'takes "detecting tumours in x-ray images' in borrowed
    assert problems("Attention cost grows with the square of the length of documents.") == {}  # the document's own words
    assert problems("A title-like claim: sparse attention for long documents is cheap.") == {}  # more than the title
    # without the document (a caller that does not pass it) the example check cannot run, and nothing is rejected for it
    answer = '{"problem": "Detecting tumours in X-ray images needs care.", "method": "A b c.", "finding": "D e f."}'
    assert read_facet_answer(answer, FACETS, ExtractRules(), instructions).problems == {}


def test_a_note_that_adds_nothing_to_the_title_is_sent_back() -> None:
    """qwen2.5-coder-1.5b gave 5 of the 56 papers their title, lightly reworded, as the "problem" (bench/results)."""
    title = "GOAT: A Training Framework for Goal-Oriented Agent with Tools"
    assert echoes_title("GOAT, a training framework for goal-oriented agents with tools.", title)
    assert echoes_title("A training framework for goal-oriented agents.", title)
    assert not echoes_title("Agents with tools fail at goal-oriented API calls because no training data pairs goals with calls.", title)
    assert not echoes_title("Accuracy rises from 41% to 67% on three tool-use benchmarks.", title)  # unrelated to the title
    assert not echoes_title("Anything at all.", "")
    document = f"{title}\nLarge language models call APIs badly. GOAT builds training data from API documents."
    answer = '{"problem": "GOAT: a training framework for goal-oriented agents with tools", "method": "Training data from API documents.", "finding": "Better calls."}'
    problems = read_facet_answer(answer, FACETS, ExtractRules(), "Write notes.", title, document).problems
    assert list(problems) == ["problem"] and "only the document's title" in problems["problem"] and "beyond the title" in problems["problem"]


def test_the_default_extraction_prompt_is_v2_without_an_example_to_copy(tmp_path: Path) -> None:
    """v1 showed an example opening ("Detecting tumours in X-ray images ...") that a small model copied into 4 papers' notes."""
    assert builtin_versions("extract_facets")[-1] == "v2" and extract_prompt() == extract_prompt("extract_facets@v2")
    options = ExtractOptions(extract_prompt(), choose_facets(None, None, None))
    extractor = FacetExtractor([], LLMConfig(model="m"), options, AnswerCache(tmp_path / "cache"))
    doc = DocumentText("line 1", "Perovskite cells degrade in humid air. A thin oxide coating keeps them working.", "Solar cells")
    rendered = extractor.prompt(doc)
    text = "\n".join(m["content"] for m in rendered.messages)
    assert "tumour" not in text.casefold() and "X-ray" not in text
    assert "more than the title" in text and "document's own terms" in text and "not a copy of its title" in text
    old = FacetExtractor([], LLMConfig(model="m"), ExtractOptions(extract_prompt("v1"), choose_facets(None, None, None)), AnswerCache(tmp_path / "cache"))
    assert "Detecting tumours" in "\n".join(m["content"] for m in old.prompt(doc).messages)


def test_a_cached_answer_that_breaks_a_rule_is_dropped_and_asked_again(tmp_path: Path) -> None:
    """Answers cached before a rule existed (e.g. a title given as the problem) are checked again when read."""
    from topicmap.hierarchy.llm.cache import CachedAnswer

    options = ExtractOptions(extract_prompt(), choose_facets(None, None, None))
    cache = AnswerCache(tmp_path / "cache")
    extractor = FacetExtractor([], LLMConfig(model="m"), options, cache)
    doc = DocumentText("line 1", "Perovskite cells degrade in humid air. A thin oxide coating keeps them working.", "Solar cells")
    prompt = extractor.prompt(doc)
    good = {"problem": "Perovskite cells degrade in humid air.", "method": "A thin oxide coating.", "finding": "They keep working."}
    cache.put(prompt.key, CachedAnswer(good, 10, 10))
    assert extractor._from_cache(prompt) is not None
    cache.put(prompt.key, CachedAnswer({**good, "problem": "Solar cells"}, 10, 10))
    assert extractor._from_cache(prompt) is None and cache.get(prompt.key) is None

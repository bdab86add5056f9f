"""Check a model's facet answer before it becomes a column. A failed check says what to fix, for the retry.

Each facet is checked on its own, so an answer with two good notes and one bad one keeps the two good
ones if the retries never fix the third. Fixed for free instead of sent back: near-miss JSON
(:mod:`topicmap.hierarchy.llm.json_repair`), keys in another case, a list of sentences instead of one string,
"The paper proposes ..." openings, bullets or quotes around a note, and notes over the length limit
(cut after the last whole sentence). Sent back: a missing or empty note, one that copies the
instructions or the answer template, one that is only the document's title or adds fewer than
three words of its own to it (a small model's favourite non-answer), one that takes a run of five words
from the instructions that the document does not have (a prompt's example answer), two facets with the
same note, every facet "not stated".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from topicmap.hierarchy.llm.json_repair import NotJSON, parse_answer_object
from topicmap.hierarchy.labels.validate import InvalidAnswer, content_words, copies_instructions, trim_summary
from topicmap.hierarchy.base.safe_text import one_line

NOT_STATED = {"not stated", "not mentioned", "not specified", "not given", "n/a", "na", "none", "unknown", "not applicable", "-"}
_OPENING = re.compile(
    r"^(?:the|this)\s+(?:document|paper|study|article|text|work|abstract|post|report|author|authors|researchers?)\s+"
    r"(?:is about|are about|addresses|address|describes|describe|discusses|discuss|proposes|propose|presents|present|reports|report|"
    r"shows|show|finds|find|found|examines|examine|investigates|investigate|studies|study|uses|use|focuses on|focus on|"
    r"introduces|introduce|concludes that|conclude that|argues that|argue that|explains|explain)\s+",
    re.IGNORECASE,
)
_LEADING_JUNK = "-+=@*\u2022 \"'\u201c\u201d\u2018\u2019`#>:"
_PLACEHOLDER = re.compile(r"^<[^<>]*>$")
_WORDS = re.compile(r"\w+(?:[-']\w+)*")
BORROWED_RUN = 5  # words in a row, taken from the instructions and absent from the document
TITLE_NEW_WORDS = 3  # a note must add at least this many content words to the title's


@dataclass(frozen=True)
class ExtractRules:
    """Bounds a note keeps; ``facet_max_chars`` is also shown to the model."""

    facet_min_chars: int = 3
    facet_max_chars: int = 400

    def as_context(self) -> dict[str, int]:
        return {"facet_max_chars": self.facet_max_chars}


@dataclass
class FacetAnswer:
    """Notes that passed (``""`` = the document does not say) and, per facet, why one did not."""

    values: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    repaired: bool = False

    @property
    def valid(self) -> bool:
        return not self.problems

    def reason(self) -> str:
        return "; ".join(self.problems.values())


def read_facet_answer(
    text: str, facets: Sequence[str], rules: ExtractRules, instructions: str, title: str = "", document: str = ""
) -> FacetAnswer:
    """Every facet of ``facets`` checked in the answer ``text``; raises :class:`InvalidAnswer` only when
    no JSON object can be read at all (then no facet is usable). ``title`` and ``document`` (what the
    model was shown) let a note that is only the title, or that borrows an example from the
    instructions, be sent back."""
    try:
        parsed = parse_answer_object(text)
    except NotJSON as exc:
        raise InvalidAnswer(str(exc)) from None
    by_key = {_key(k): v for k, v in parsed.value.items()}
    answer = FacetAnswer(repaired=parsed.repaired)
    seen: dict[str, str] = {}  # casefolded note -> the facet that wrote it first
    for name in facets:
        if _key(name) not in by_key:
            answer.problems[name] = f'the JSON object has no "{name}"'
            continue
        note, problem = check_note(by_key[_key(name)], name, rules, instructions, title, document)
        if problem:
            answer.problems[name] = problem
            continue
        if note and note.casefold() in seen:
            answer.problems[name] = f'"{name}" repeats the note of "{seen[note.casefold()]}"; each note must describe only its own field'
            continue
        if note:
            seen[note.casefold()] = name
        answer.values[name] = note
    if not answer.problems and answer.values and not any(answer.values.values()):
        for name in facets:
            answer.problems[name] = 'every note is "not stated"; write what the document says for at least one field'
        answer.values.clear()
    return answer


def check_note(
    value: object, name: str, rules: ExtractRules, instructions: str, title: str = "", document: str = ""
) -> tuple[str, str | None]:
    """(the cleaned note, None) or ("", why it was rejected)."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = " ".join(v.strip() for v in value)  # a list of sentences: one note
    if value is None:
        value = ""
    if not isinstance(value, str):
        return "", f'"{name}" must be a string'
    note = one_line(value).lstrip(_LEADING_JUNK).rstrip(" \"'\u201d\u2019`")
    if _PLACEHOLDER.match(note) or note.casefold() in ("note", "<note>"):
        return "", f'"{name}" is the placeholder of the answer template; write the note itself'
    if note.rstrip(".").strip().casefold() in NOT_STATED or not note:
        return "", None
    note = _drop_opening(note)
    if len(note) < rules.facet_min_chars:
        return "", f'"{name}" is too short ({len(note)} characters)'
    if copies_instructions(note, instructions):
        return "", f'"{name}" copies the instructions; describe the document instead'
    if title and (_words(note) == _words(title) or echoes_title(note, title)):
        return "", f'"{name}" is only the document\'s title; say what the document says about its {name}, beyond the title'
    borrowed = borrowed_run(note, instructions, document) if document else None
    if borrowed:
        return "", f'"{name}" takes "{borrowed}" from the instructions\' examples; describe this document only'
    return trim_summary(note, rules.facet_max_chars), None


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORDS.findall(text)]


def echoes_title(note: str, title: str, new_words: int = TITLE_NEW_WORDS) -> bool:
    """The note says no more than the title: it covers at least half of the title's content words and adds
    fewer than ``new_words`` of its own (plural -s ignored), e.g. "GOAT, a training framework for
    goal-oriented agents with tools" for the title "GOAT: A Training Framework for Goal-Oriented Agent with Tools"."""
    in_title = {_stem(w) for w in content_words(title)}
    in_note = {_stem(w) for w in content_words(note)}
    if not in_title or not in_note:
        return False
    return len(in_note - in_title) < new_words and 2 * len(in_note & in_title) >= len(in_title)


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def borrowed_run(note: str, instructions: str, document: str, run: int = BORROWED_RUN) -> str | None:
    """The first ``run`` words in a row of ``note`` found in ``instructions`` but not in ``document``.

    A small model sometimes starts its note with the prompt's example ("Detecting tumours in X-ray
    images ...") and goes on as if it were the document's; a run the document itself has is fair."""
    words = _words(note)
    if len(words) < run:
        return None
    instruction_words, document_words = _words(instructions), _words(document)
    in_instructions = {tuple(instruction_words[i : i + run]) for i in range(len(instruction_words) - run + 1)}
    in_document = {tuple(document_words[i : i + run]) for i in range(len(document_words) - run + 1)}
    for i in range(len(words) - run + 1):
        gram = tuple(words[i : i + run])
        if gram in in_instructions and gram not in in_document:
            return " ".join(gram)
    return None


def _drop_opening(note: str) -> str:
    """ "The paper proposes a sparse attention ..." -> "A sparse attention ...": the field name already says it."""
    match = _OPENING.match(note)
    if not match or len(note) - match.end() < 10:
        return note
    rest = note[match.end() :]
    return rest[0].upper() + rest[1:]


def _key(name: str) -> str:
    return "_".join(str(name).casefold().replace("-", " ").split())

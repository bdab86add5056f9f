"""Check a model's answer before it becomes a label. A failed check says what to fix, for the retry.

Checks: a JSON object of the agreed shape; non-empty label within length bounds; no markdown, quotes
or "Label:" junk; not a copy of the instructions; and for leaves, not a name taken from the contrast
documents of sibling nodes only (the way an injected instruction in a neighbour would get in).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from hierarchy import jsontext
from hierarchy.label_context import LabelRules

_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_MARKDOWN = re.compile(r"[*#`_\[\]|<>{}\\]|^\s*[-+>]\s|\]\(")
_QUOTES = "\"'\u201c\u201d\u2018\u2019\u00ab\u00bb\u201e`"
_PREFIX = re.compile(r"^\s*(label|name|topic|title|cluster)\s*[:=-]", re.IGNORECASE)
_GENERIC = {"label", "topic", "cluster", "name", "unknown", "n/a", "na", "none", "untitled", "category", "misc", "various", "other", "documents"}
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_STOP = {
    "the", "and", "for", "with", "from", "into", "about", "that", "this", "these", "those", "their", "its", "are", "was",
    "were", "has", "have", "not", "but", "all", "any", "use", "using", "based", "via", "over", "under", "between",
}


class InvalidAnswer(ValueError):
    """The answer broke the contract; the message is fed back to the model on the next try."""


class ContrastLeak(InvalidAnswer):
    """The label names what the contrast documents show, not the cluster: retry without them."""


@dataclass(frozen=True)
class LabelAnswer:
    label: str
    summary: str


def parse_object(text: str) -> dict[str, object]:
    """The JSON object in an answer, tolerating a code fence or chatter around it."""
    stripped = _FENCE.sub("", text.strip()).strip()
    start, end = stripped.find("{"), stripped.rfind("}")
    if start < 0:
        raise InvalidAnswer("the answer is not a JSON object; answer with exactly one JSON object")
    try:
        value = jsontext.loads(stripped[start : end + 1] if end > start else stripped[start:])
    except json.JSONDecodeError as exc:
        raise InvalidAnswer(f"the answer is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(value, dict):
        raise InvalidAnswer("the answer is not a JSON object")
    return value


def check_label(label: object, rules: LabelRules, instructions: str, field: str = "label") -> str:
    if not isinstance(label, str):
        raise InvalidAnswer(f'"{field}" must be a string')
    label = " ".join(label.split()).rstrip(".;:,")
    if not label:
        raise InvalidAnswer(f'"{field}" is empty')
    if copies_instructions(label, instructions):
        raise InvalidAnswer(f'"{field}" copies the instructions; name what the documents are about')
    if label[0] in _QUOTES or label[-1] in _QUOTES:
        raise InvalidAnswer(f'"{field}" must not be wrapped in quotes')
    if _MARKDOWN.search(label):
        raise InvalidAnswer(f'"{field}" must be plain text, without markdown, brackets or special characters')
    if _PREFIX.match(label):
        raise InvalidAnswer(f'"{field}" must be the name itself, without a "Label:" prefix')
    if len(label) < rules.label_min_chars or len(label) > rules.label_max_chars:
        raise InvalidAnswer(f'"{field}" must have {rules.label_min_chars} to {rules.label_max_chars} characters, it has {len(label)}')
    if len(label.split()) > rules.label_max_words:
        raise InvalidAnswer(f'"{field}" must have at most {rules.label_max_words} words')
    if label.casefold() in _GENERIC:
        raise InvalidAnswer(f'"{field}" {label!r} is too generic; name what the documents are about')
    return label


def copies_instructions(text: str, instructions: str) -> bool:
    """Three or more words found verbatim in the instructions, or text made mostly of their 4-word runs.

    (Two-word phrases of the instructions, such as "Title Case", may be fair names for a topic.)
    """
    norm_text = " ".join(text.casefold().split())
    norm_instr = " ".join(instructions.casefold().split())
    words = norm_text.split()
    if len(words) >= 3 and norm_text in norm_instr:
        return True
    grams = {tuple(words[i : i + 4]) for i in range(len(words) - 3)}
    if len(grams) < 3:
        return False
    instr_words = norm_instr.split()
    instr_grams = {tuple(instr_words[i : i + 4]) for i in range(len(instr_words) - 3)}
    return len(grams & instr_grams) / len(grams) >= 0.5


def content_words(text: str) -> set[str]:
    return {w for w in (m.group(0).casefold() for m in _WORD.finditer(text)) if w not in _STOP}


def validate_label_answer(text: str, rules: LabelRules, instructions: str, own_text: str = "", contrast_text: str = "") -> LabelAnswer:
    data = parse_object(text)
    if "label" not in data:
        raise InvalidAnswer('the JSON object has no "label"')
    label = check_label(data.get("label"), rules, instructions)
    summary = data.get("summary", "")
    if not isinstance(summary, str) or not summary.strip():
        raise InvalidAnswer('"summary" must be a non-empty string')
    summary = " ".join(summary.split())
    if len(summary) > rules.summary_max_chars + rules.summary_max_chars // 3:
        raise InvalidAnswer(f'"summary" must have at most {rules.summary_max_chars} characters, it has {len(summary)}')
    if summary.lstrip().startswith(("#", "```", "- ", "* ")):
        raise InvalidAnswer('"summary" must be plain sentences, without markdown')
    if copies_instructions(summary, instructions):
        raise InvalidAnswer('"summary" copies the instructions; summarise the documents instead')
    if contrast_text:
        words = content_words(label)
        if words and words <= content_words(contrast_text) and not words & content_words(own_text):
            raise ContrastLeak(
                f"the label {label!r} comes from the contrast documents of neighbouring clusters, not from this cluster's own documents"
            )
    return LabelAnswer(label, summary)


def validate_distinct_answer(text: str, rules: LabelRules, instructions: str, rename: list[str], fixed: dict[str, str]) -> dict[str, str]:
    """New labels for every id in ``rename``, distinct from each other and from the ``fixed`` ones."""
    data = parse_object(text)
    items = data.get("labels")
    if not isinstance(items, list):
        raise InvalidAnswer('the JSON object needs a "labels" list')
    out: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise InvalidAnswer('each entry of "labels" needs an "id" and a "label"')
        node_id = item["id"].strip()
        if node_id in rename:
            out[node_id] = check_label(item.get("label"), rules, instructions)
    missing = [i for i in rename if i not in out]
    if missing:
        raise InvalidAnswer(f"no new label for {', '.join(missing)}")
    seen = {normalize(label): node_id for node_id, label in fixed.items()}
    for node_id, label in out.items():
        key = normalize(label)
        if key in seen:
            raise InvalidAnswer(f"the label {label!r} of {node_id} is the same as the label of {seen[key]}")
        seen[key] = node_id
    return out


def normalize(label: str) -> str:
    """Labels equal up to case, spacing and punctuation count as the same label."""
    return " ".join(re.sub(r"[^\w]+", " ", label.casefold()).split())

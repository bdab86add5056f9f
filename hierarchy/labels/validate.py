"""Check a model's answer before it becomes a label. A failed check says what to fix, for the retry.

Checks: a JSON object of the agreed shape; non-empty label within length bounds (control characters
and terminal escape sequences removed first); no markdown, quotes or "Label:" junk; not a copy of the
instructions; for leaves, neither the label nor the summary taken from the contrast documents of
sibling nodes only (the way an injected instruction in a neighbour would get in, or a small model's
attention drifts); for parents, a label that neither copies one child nor joins several; summaries
free of the prompt's scaffolding (cluster ids, document counts). A summary over the length limit is
trimmed at a sentence boundary, not failed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from topicmap.hierarchy.base import jsontext
from topicmap.hierarchy.labels.context import LabelRules
from topicmap.hierarchy.base.safe_text import one_line

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


_SCAFFOLDING = (
    (re.compile(r"\b(?:cluster|subtopic|topic|node|group)\s+\d+(?:\.\d+)*\b", re.IGNORECASE), "names a cluster id"),
    (re.compile(r"\b\d[\d,.]*\s+(?:documents?|articles?|posts?|texts?|papers?|items?|stories|entries|subtopics)\b", re.IGNORECASE), "counts documents"),
    (re.compile(r"^\W*(?:this|the|these|each)\s+(?:cluster|topic|subtopic|node|group|category|collection)s?\b", re.IGNORECASE), "talks about the cluster"),
    (re.compile(r"^\W*(?:these|the|this)\s+(?:shown\s+|given\s+|representative\s+)?(?:documents?|articles?|texts?)\b", re.IGNORECASE), "talks about the documents"),
    (re.compile(r"\bclusters?\b", re.IGNORECASE), "mentions clusters"),
)
_JOINERS = re.compile(r"\s*(?:,|&|\+|/|;|\band\b|\bor\b)\s*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?\u2026](?=\s|$)")


class InvalidAnswer(ValueError):
    """The answer broke the contract; the message is fed back to the model on the next try."""


class SoftViolation(InvalidAnswer):
    """A valid answer that breaks a soft rule. Sent back; after the last try the best-ranked one is kept."""

    rank = 0.0  # higher is better: among soft answers, the last try keeps the highest-ranked (latest on ties)

    def __init__(self, message: str, answer: LabelAnswer) -> None:
        super().__init__(message)
        self.answer = answer


class TooNarrow(SoftViolation):
    """The label names one part of the node (one team of a football node)."""


class CopiesChild(SoftViolation):
    """A parent label equal to one child's. Accepted last: then the child is renamed apart, not the parent.

    A small model names a football leaf "Sports"; its parent is then rightly "Sports" too, and the fix
    is a more specific name for the child.
    """

    def __init__(self, message: str, answer: LabelAnswer, child: str) -> None:
        super().__init__(message, answer)
        self.child = child


class CopiesChildSummary(SoftViolation):
    """A parent summary that repeats one child's summary describes that child, not the parent."""


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
    label = one_line(label).rstrip(".;:,")  # control characters and escape sequences never reach a label
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


def validate_label_answer(
    text: str,
    rules: LabelRules,
    instructions: str,
    own_text: str = "",
    contrast_text: str = "",
    child_labels: Sequence[str] = (),
    documents: Sequence[str] = (),
    child_summaries: Sequence[str] = (),
) -> LabelAnswer:
    data = parse_object(text)
    if "label" not in data:
        raise InvalidAnswer('the JSON object has no "label"')
    label = check_label(data.get("label"), rules, instructions)
    summary = data.get("summary", "")
    if not isinstance(summary, str) or not summary.strip():
        raise InvalidAnswer('"summary" must be a non-empty string')
    summary = one_line(summary)
    if summary.lstrip().startswith(("#", "```", "- ", "* ")):
        raise InvalidAnswer('"summary" must be plain sentences, without markdown')
    if copies_instructions(summary, instructions):
        raise InvalidAnswer('"summary" copies the instructions; summarise the documents instead')
    summary = drop_meta_opening(summary)
    check_scaffolding(label, summary, own_text)
    copied = check_parent_label(label, child_labels) if child_labels else None
    if contrast_text:
        words = content_words(label)
        own_words = content_words(own_text)
        if words and words <= content_words(contrast_text) and not words & own_words:
            raise ContrastLeak(
                f"the label {label!r} comes from the contrast documents of neighbouring clusters, not from this cluster's own documents"
            )
        check_summary_contrast(summary, own_words, content_words(contrast_text))
    answer = LabelAnswer(label, trim_summary(summary, rules.summary_max_chars))
    if copied is not None:
        raise CopiesChild(
            f"the label {label!r} copies the subtopic {copied!r}; name what all {len(child_labels)} subtopics share, one level broader",
            answer,
            copied,
        )
    narrow = too_narrow(label, documents)
    if narrow:
        raise TooNarrow(narrow, answer)
    copied_summary = next((c for c in child_summaries if c.strip() and normalise(c) == normalise(summary)), None)
    if copied_summary is not None:
        raise CopiesChildSummary("the summary repeats a subtopic's summary word for word; summarise what all the subtopics cover", answer)
    return answer


NARROW_SHARE = 1 / 3  # a name that only this share of the shown documents mentions names a part of the topic
NARROW_MIN_DOCUMENTS = 4


def too_narrow(label: str, documents: Sequence[str]) -> str:
    """Why the label names only a part of the documents (an entity most of them never mention), or "".

    Science of the check: the shown documents are chosen to cover the node (maximal marginal relevance).
    A name whose words occur in some but under a third of them (a team in a football node, one singer
    in a music node) is a part, not the whole. A name none of them uses literally is an abstraction
    ("Team Sports") and passes; so does one most of them use.
    """
    words = content_words(label)
    if not words or len(documents) < NARROW_MIN_DOCUMENTS:
        return ""
    stems = {w[:5] if len(w) > 5 else w for w in words}
    hits = sum(1 for text in documents if stems & {w[:5] if len(w) > 5 else w for w in content_words(text)})
    if 0 < hits < NARROW_SHARE * len(documents):
        return (
            f"the label {label!r} fits only {hits} of the {len(documents)} documents shown; name the subject most of them share, "
            "not one team, person, company or event among them"
        )
    return ""


def check_scaffolding(label: str, summary: str, own_text: str) -> None:
    """The prompt's own vocabulary (cluster ids, document counts, "this cluster") is not a description.

    A phrase that also occurs in what the model was shown is content, not scaffolding: a topic may
    well be about galaxy clusters.
    """
    grounded = " ".join(own_text.casefold().split())
    for field, value in (("label", label), ("summary", summary)):
        for pattern, what in _SCAFFOLDING:
            found = pattern.search(value)
            if found and " ".join(found.group(0).casefold().split()) not in grounded:
                raise InvalidAnswer(
                    f'"{field}" {what} ({found.group(0).strip()!r}); describe the subject itself, '
                    "without mentioning clusters, documents, their number or any id"
                )


def check_parent_label(label: str, child_labels: Sequence[str]) -> str | None:
    """A parent names what its children share: several joined together is an error; the copied child's label, if any."""
    key, words = normalise(label), content_words(label)
    copied = next((c for c in child_labels if normalise(c) == key or (words and content_words(c) == words)), None)
    parts = [p for p in _JOINERS.split(label) if p.strip()]
    contained = [c for c in child_labels if content_words(c) and content_words(c) <= words]
    if len(contained) >= 2 and (len(parts) >= 2 or len(contained) == len(child_labels)):
        shown = " and ".join(repr(c) for c in contained[:3])
        raise InvalidAnswer(
            f"the label {label!r} joins the subtopic names {shown}; give one broader name for what they have in common, not a list"
        )
    return copied


_META_OPENING = re.compile(
    r"^(?:this|the|these)\s+(?:broad\s+)?(?:topic|cluster|subtopic|group|category|collection|node)s?\s+(?:of\s+documents\s+)?"
    r"(?:is about|are about|focuses on|focus on|consists of|deals with|brings together|is|are|[a-z]+s)\s+",
    re.IGNORECASE,
)


def drop_meta_opening(summary: str) -> str:
    """ "This topic covers news on sport ..." becomes "News on sport ...": a small model's habit, fixed for free."""
    match = _META_OPENING.match(summary)
    if not match or len(summary) - match.end() < 10:
        return summary
    rest = summary[match.end() :]
    return rest[0].upper() + rest[1:]


def check_summary_contrast(summary: str, own_words: set[str], contrast_words: set[str]) -> None:
    """A summary whose content words come from the neighbours' documents describes the neighbours."""
    words = content_words(summary)
    leaked = sorted((words & contrast_words) - own_words)
    grounded = words & (own_words | contrast_words)
    if len(leaked) >= 2 and 3 * len(leaked) >= len(grounded):
        raise ContrastLeak(
            f"the summary describes the neighbouring clusters (the words {', '.join(leaked[:5])} occur only in their contrast documents); "
            "summarise this cluster's own documents"
        )


def trim_summary(summary: str, limit: int) -> str:
    """At most ``limit`` characters, cut after the last whole sentence that fits (else at a word, with an ellipsis)."""
    if len(summary) <= limit:
        return summary
    head = summary[: limit + 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(head) if m.end() <= limit]
    if ends and ends[-1] >= limit // 3:
        return head[: ends[-1]].rstrip()
    cut = summary[: max(1, limit - 1)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "\u2026"


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
    seen = {normalise(label): node_id for node_id, label in fixed.items()}
    for node_id, label in out.items():
        key = normalise(label)
        if key in seen:
            raise InvalidAnswer(f"the label {label!r} of {node_id} is the same as the label of {seen[key]}")
        seen[key] = node_id
    return out


def normalise(label: str) -> str:
    """Labels equal up to case, spacing and punctuation count as the same label."""
    return " ".join(re.sub(r"[^\w]+", " ", label.casefold()).split())

"""How a node came to be, past its own fields: the tree file's ``label_meta.extra`` and ``extra`` objects.

Two typed records: :class:`LabelProvenance`, what the labeller (``labels/label.py``) and ``assign``
(``builder/assign.py``) write into a node's ``label_meta.extra``, and :class:`NodeProvenance`, what
regrouping (``labels/regroup.py``) writes into a node's ``extra``. Each is stored under the same JSON
keys as before it was typed, so every tree file reads and writes as it did: a field that is None is
not written; a key this version does not know (written by a newer one), or a known key holding a
value of another type, is kept in ``other`` and written back unchanged. A record also reads and
writes as a mapping of those keys (``extra["warning"]``, ``"stale" in extra``, ``extra == {...}``),
the form the file and the documentation use.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Self, get_type_hints

_OTHER = "other"


class _Record(MutableMapping[str, Any]):
    """Typed fields (None: not recorded) and ``other``, read and written as the mapping of the file's keys."""

    other: dict[str, Any]
    _record_types: dict[str, type]

    @classmethod
    def _types(cls) -> dict[str, type]:
        """Recorded field -> the type it holds, in the order the file lists them."""
        found = cls.__dict__.get("_record_types")
        if found is None:
            found = _field_types(cls)
            cls._record_types = found  # once per record class
        return found

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Self:
        """The record of an ``extra`` object as read from a file (or as older code built it)."""
        record = cls()
        for key, value in (data or {}).items():
            record[key] = value
        return record

    def to_dict(self) -> dict[str, Any]:
        """The JSON object the tree file stores: recorded fields, then the keys kept from the file."""
        return dict(self.items())

    def copy(self) -> Self:
        return replace(self, other=dict(self.other))

    # -- the mapping view: the file's keys ---------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        if key in self._types():
            value = getattr(self, key)
            if value is not None:
                return value
        return self.other[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self._types() and value is not None and _fits(value, self._types()[key]):
            setattr(self, key, value)
            self.other.pop(key, None)
        else:  # unknown, or a value this version would not write there: kept as it was read
            if key in self._types():
                setattr(self, key, None)
            self.other[key] = value

    def __delitem__(self, key: str) -> None:
        if key in self._types() and getattr(self, key) is not None:
            setattr(self, key, None)
        else:
            del self.other[key]

    def __iter__(self) -> Iterator[str]:
        yield from (name for name in self._types() if getattr(self, name) is not None)
        yield from self.other

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"


@dataclass(eq=False)
class LabelProvenance(_Record):
    """The ``extra`` record of a node's ``label_meta``; None: not recorded."""

    # the labelling request that made the label (labels/label.py)
    input: str | None = None  # cache key of the prompt the label answers: an unchanged key means no new request
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    keyword_label: str | None = None  # the offline label and summary, kept to fall back to
    keyword_summary: str | None = None
    attempts: int | None = None  # answers it took, when more than one
    warning: str | None = None  # kept although it breaks a soft rule (a narrow name, one closer to a sibling)
    name_from_candidates: bool | None = None  # picked from a list of names asked for after every try broke a rule
    reused_from: str | None = None  # the only child, whose label this node shows
    renamed_from: str | None = None  # the sibling pass renamed it from this label ...
    distinct_prompt: str | None = None  # ... with this prompt ("fallback": a keyword or number appended)
    renamed_because: str | None = None
    failed_prompt: str | None = None  # the last labelling failed (the earlier LLM label is kept)
    failed_model: str | None = None
    failed_at: str | None = None
    # new documents placed into the tree (builder/assign.py)
    size_at_label: int | None = None
    stale: bool | None = None  # its size moved past the threshold since it was labelled
    refreshed_by: str | None = None  # a keyword label recomputed (by "assign")
    other: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, as read


@dataclass(eq=False)
class NodeProvenance(_Record):
    """The ``extra`` record of a node: where regrouping (labels/regroup.py) put it; None: not recorded."""

    grouped_by: str | None = None  # a node regrouping made above the leaves: what grouped its children ("summaries")
    regrouped_from: str | None = None  # a leaf of a regrouped tree: its id in the tree it was regrouped from
    other: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, as read


def _fits(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _field_types(record: type) -> dict[str, type]:
    hints = get_type_hints(record)
    types: dict[str, type] = {}
    for f in fields(record):
        if f.name == _OTHER:
            continue
        (kind,) = [t for t in hints[f.name].__args__ if t is not type(None)]
        types[f.name] = kind
    return types


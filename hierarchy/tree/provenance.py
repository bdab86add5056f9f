"""How a node's label came to be, past :class:`LabelMeta`'s own fields: the tree file's ``label_meta.extra``.

One typed record for what the labeller (``labels/label.py``) and ``assign`` (``builder/assign.py``)
write there. It is stored under the same JSON keys as before it was typed, so every tree file reads
and writes as it did: a field that is None is not written; a key this version does not know (written
by a newer one), or a known key holding a value of another type, is kept in ``other`` and written
back unchanged. The record also reads and writes as a mapping of those keys (``extra["warning"]``,
``"stale" in extra``, ``extra == {...}``), the form the file and the documentation use.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, get_type_hints

_OTHER = "other"


@dataclass(eq=False)
class LabelProvenance(MutableMapping[str, Any]):
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

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> LabelProvenance:
        """The record of a ``label_meta.extra`` object as read from a file (or as older code built it)."""
        record = cls()
        for key, value in (data or {}).items():
            record[key] = value
        return record

    def to_dict(self) -> dict[str, Any]:
        """The JSON object the tree file stores: recorded fields, then the keys kept from the file."""
        return dict(self.items())

    def copy(self) -> LabelProvenance:
        return replace(self, other=dict(self.other))

    # -- the mapping view: the file's keys ---------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        if key in _TYPES:
            value = getattr(self, key)
            if value is not None:
                return value
        return self.other[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in _TYPES and value is not None and _fits(value, _TYPES[key]):
            setattr(self, key, value)
            self.other.pop(key, None)
        else:  # unknown, or a value this version would not write there: kept as it was read
            if key in _TYPES:
                setattr(self, key, None)
            self.other[key] = value

    def __delitem__(self, key: str) -> None:
        if key in _TYPES and getattr(self, key) is not None:
            setattr(self, key, None)
        else:
            del self.other[key]

    def __iter__(self) -> Iterator[str]:
        yield from (name for name in _TYPES if getattr(self, name) is not None)
        yield from self.other

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"LabelProvenance({self.to_dict()!r})"


def _fits(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _field_types() -> dict[str, type]:
    hints = get_type_hints(LabelProvenance)
    types: dict[str, type] = {}
    for f in fields(LabelProvenance):
        if f.name == _OTHER:
            continue
        (kind,) = [t for t in hints[f.name].__args__ if t is not type(None)]
        types[f.name] = kind
    return types


_TYPES: dict[str, type] = _field_types()  # recorded field -> the type it holds, in the order the file lists them

"""Estimated cost of a run from token counts and a small price table the user can override."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from topicmap.hierarchy.base.errors import InputError


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


def _parse(text: str, source: str) -> dict[str, Price]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML ({exc})") from None
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise InputError(f"{source}: [models] must be a table of model names")
    table: dict[str, Price] = {}
    for name, entry in models.items():
        try:
            table[name] = Price(float(entry["input"]), float(entry["output"]))
        except (KeyError, TypeError, ValueError):
            raise InputError(f'{source}: [models."{name}"] needs numeric "input" and "output" (USD per million tokens)') from None
    return table


def load_prices(override: str | Path | None = None) -> dict[str, Price]:
    """The shipped table (``prompts/prices.toml``), updated by the user's file if given."""
    table = _parse(resources.files("topicmap.prompts").joinpath("prices.toml").read_text("utf-8"), "prices.toml")
    if override is not None:
        path = Path(override)
        if not path.is_file():
            raise InputError(f"{path}: no such prices file")
        table.update(_parse(path.read_text("utf-8"), str(path)))
    return table


def price_for(model: str, table: dict[str, Price]) -> Price | None:
    if model in table:
        return table[model]
    prefixes = [name for name in table if model.startswith(name)]
    return table[max(prefixes, key=len)] if prefixes else None

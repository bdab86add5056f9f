"""Execution: asking the model for one label (or one sibling pass) until an answer passes the checks.

A request, its validation, and on a rejected answer another request that shows every rejection so
far with its reason, at a higher temperature; when every try broke a rule about the name alone, one
last request for several names to choose from. Nothing here decides which nodes are asked, or when:
that is the labeller's walk (:mod:`topicmap.hierarchy.labels.label`); a dry run replaces this with
:class:`topicmap.hierarchy.labels.plan.Estimate`, which counts the request instead of sending it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from topicmap.hierarchy.labels.context import Rendered
from topicmap.hierarchy.labels.fidelity import CloserToSibling
from topicmap.hierarchy.labels.validate import ContrastLeak, InvalidAnswer, SoftViolation, TooNarrow, parse_object
from topicmap.hierarchy.llm.client import ChatClient, ChatResult, LLMError

if TYPE_CHECKING:
    from topicmap.hierarchy.labels.label import LabelOptions, RunReport

RETRY_TEMPERATURE_STEP = 0.4  # added per retry: at temperature 0 a small model repeats its rejected answer
MAX_RETRY_TEMPERATURE = 1.0
FEEDBACK_ANSWER_CHARS = 600  # of each rejected answer shown back to the model
NAME_RULES = (CloserToSibling, TooNarrow)  # rules about the name alone: a list of other names can satisfy them

Validate = Callable[[str, Rendered], Any]


@dataclass
class Outcome:
    """What asking came to: a checked ``value``, or an ``error``; ``known`` is False for an estimate (nothing was asked)."""

    value: Any = None
    error: str = ""
    warning: str = ""  # accepted on the last try despite a soft rule
    soft: SoftViolation | None = None  # the rule it broke
    from_candidates: bool = False  # the name was picked from a list asked for after every try broke a rule
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    known: bool = True


class Answers(Protocol):
    """Where a labelling run gets its answers: the model (:class:`Asker`), or an estimate of what asking would cost."""

    sends: bool  # False: nothing is sent, requests are counted (a dry run)

    async def ask(self, rendered: Rendered, validate: Validate, fallback: Callable[[], Rendered] | None) -> Outcome: ...

    def requests(self) -> int: ...


class Asker:
    """Answers from the model through ``client``, each counted into ``report`` as it arrives."""

    sends = True

    def __init__(self, client: ChatClient, options: LabelOptions, report: RunReport) -> None:
        self.client = client
        self.options = options
        self.report = report

    def requests(self) -> int:
        return self.client.stats.requests

    async def ask(self, rendered: Rendered, validate: Validate, fallback: Callable[[], Rendered] | None) -> Outcome:
        """Ask, validate, and on an invalid answer ask again: no two tries send the same request.

        Each retry shows every rejected answer so far with the reason it was rejected (the exact rule and
        numbers), and raises the temperature by ``RETRY_TEMPERATURE_STEP``: a small model at temperature
        0 otherwise answers a repeated question with the same rejected answer. ``fallback`` is the prompt
        without contrast documents, shown once the model could not keep them apart.
        """
        outcome = Outcome()
        shown = rendered
        messages = list(rendered.messages)
        rejected: list[tuple[str, str]] = []  # (answer, why)
        best_soft: SoftViolation | None = None
        for attempt in range(self.options.max_attempts):
            try:
                result = await self.client.complete(messages, temperature=self.retry_temperature(attempt), follow_up=attempt > 0)
            except LLMError as exc:
                if exc.fatal:  # including many failures in a row (the client counts them): the server is down
                    raise
                outcome.error = str(exc)
                return outcome
            self._count(result, outcome)
            try:
                outcome.value = validate(result.text, shown)
                return outcome
            except InvalidAnswer as exc:
                if isinstance(exc, SoftViolation) and (best_soft is None or exc.rank >= best_soft.rank):
                    best_soft = exc
                if attempt == self.options.max_attempts - 1 and best_soft is not None:
                    rejected.append((result.text, str(exc)))
                    if isinstance(best_soft, NAME_RULES) and self.options.candidates > 0:
                        best_soft = await self._pick_candidate(shown, validate, rejected, best_soft, outcome)
                    if not isinstance(best_soft, SoftViolation):
                        outcome.value = best_soft
                        return outcome
                    outcome.value, outcome.warning, outcome.soft = best_soft.answer, str(best_soft), best_soft  # a narrow name beats no name
                    return outcome
                outcome.error = f"invalid answer after {outcome.calls} tries: {exc}"
                if isinstance(exc, ContrastLeak) and fallback is not None:
                    shown = fallback()  # the model could not keep the neighbours apart: stop showing them
                rejected.append((result.text, str(exc)))
                messages = [*shown.messages, *feedback(rejected)]
        return outcome

    async def _pick_candidate(self, shown: Rendered, validate: Validate, rejected: list[tuple[str, str]], best: SoftViolation, outcome: Outcome) -> Any:
        """Every try broke a rule about the name: ask once for several names and keep the first that passes.

        A small model that keeps giving one rejected name can still list better ones; choosing among
        them is cheaper and surer than more single tries. The summary of the best try is kept. Returns
        the accepted answer, or the best-ranked rule break among the tries and the candidates.
        """
        messages = [*shown.messages, *feedback(rejected), candidates_request(self.options.candidates)]
        try:
            result = await self.client.complete(messages, temperature=self.retry_temperature(len(rejected)), follow_up=True)
        except LLMError as exc:
            if exc.fatal:
                raise
            return best
        self._count(result, outcome)
        self.report.candidate_calls += 1
        for name in candidate_names(result.text)[: self.options.candidates]:
            try:
                answer = validate(json.dumps({"label": name, "summary": best.answer.summary}), shown)
            except SoftViolation as exc:
                if exc.rank > best.rank:
                    best = exc
                continue
            except InvalidAnswer:
                continue
            self.report.from_candidates += 1
            outcome.from_candidates = True
            return answer
        return best

    def _count(self, result: ChatResult, outcome: Outcome) -> None:
        outcome.calls += 1
        outcome.prompt_tokens += result.prompt_tokens
        outcome.completion_tokens += result.completion_tokens
        self.report.calls += 1
        self.report.prompt_tokens += result.prompt_tokens
        self.report.completion_tokens += result.completion_tokens
        self.report.call_prompt_tokens.append(result.prompt_tokens)

    def retry_temperature(self, attempt: int) -> float | None:
        """None (the configured temperature) for the first try, then a little warmer each time."""
        return retry_temperature(self.client.config.temperature, attempt)


def retry_temperature(base: float, attempt: int) -> float | None:
    """The temperature of try ``attempt`` (0: None, the configured ``base``), warmer by a step each retry."""
    if attempt == 0:
        return None
    return round(min(MAX_RETRY_TEMPERATURE, max(base, base + RETRY_TEMPERATURE_STEP * attempt)), 3)


def feedback(rejected: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The rejected answers, each followed by why, then a request naming every rule broken so far."""
    messages: list[dict[str, str]] = []
    for number, (answer, why) in enumerate(rejected, start=1):
        messages.append({"role": "assistant", "content": answer[:FEEDBACK_ANSWER_CHARS]})
        if number < len(rejected):
            messages.append({"role": "user", "content": f"That answer was not accepted: {why}."})
    reasons = "; ".join(f"({i}) {why}" for i, (_, why) in enumerate(rejected, start=1)) if len(rejected) > 1 else rejected[-1][1]
    messages.append(
        {
            "role": "user",
            "content": f"That answer was not accepted: {rejected[-1][1]}. "
            + (f"All the problems so far: {reasons}. " if len(rejected) > 1 else "")
            + "Write a different answer that fixes this. Answer with only the JSON object, following the rules.",
        }
    )
    return messages


def candidates_request(count: int) -> dict[str, str]:
    """The last request for a node whose every name broke a rule about names: several names to choose from."""
    return {
        "role": "user",
        "content": f"Instead of one answer, list {count} different candidate names for these documents, each following the rules "
        "and avoiding the problems above, the most fitting first. Answer with only a JSON object in this form: "
        '{"labels": ["<name 1>", "<name 2>"]}',
    }


def candidate_names(text: str) -> list[str]:
    """The names in a candidates answer; an unusable answer gives none (the best earlier try is then kept)."""
    try:
        data = parse_object(text)
    except InvalidAnswer:
        return []
    names = data.get("labels")
    if not isinstance(names, list):
        return []
    return [n.strip() for n in names if isinstance(n, str) and n.strip()]

"""The extraction stage: one LLM request per document writes a note per facet (problem, method, ...).

It runs on the label layer's machinery: the same :class:`ChatClient` (retries, backoff, Retry-After,
a dead server stops the run), the same content-addressed answer cache (a rerun makes no requests; an
interrupted run resumes, because every validated answer is stored as it arrives), the same feedback
loop (an invalid answer is sent back with the reason, warmer each try), the same guard for document
text (:func:`untrusted` between ``<document>`` tags). What is new here: a per-document prompt cut to
the token budget, a JSON schema for servers that constrain output, and per-facet validation, so an
answer with one bad note keeps its good ones. A document that fails keeps empty notes and the reason.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from topicmap.hierarchy.extract.validate import ExtractRules, FacetAnswer, read_facet_answer
from topicmap.hierarchy.extract.facets import FacetSet
from topicmap.hierarchy.labels.ask import MAX_RETRY_TEMPERATURE, RETRY_TEMPERATURE_STEP, feedback
from topicmap.hierarchy.labels.label import run_to_end
from topicmap.hierarchy.labels.validate import InvalidAnswer
from topicmap.hierarchy.llm.client import ChatClient, LLMConfig, LLMError
from topicmap.hierarchy.llm.cache import AnswerCache, CachedAnswer, cache_key
from topicmap.hierarchy.llm.prompting import PromptTemplate, messages_tokens, untrusted

EST_COMPLETION_TOKENS_PER_FACET = 45  # a one- or two-sentence note as JSON, for estimates
MIN_TEXT_CHARS = 200  # a document is never cut shorter than this, whatever the budget


@dataclass(frozen=True)
class DocumentText:
    """One document as the extractor sees it; ``where`` names it in messages (``line 3``, ``row 7``)."""

    where: str
    text: str
    title: str = ""
    doc_id: str | None = None

    def describe(self) -> str:
        return f"{self.where} (id {self.doc_id})" if self.doc_id else self.where


@dataclass(frozen=True)
class ExtractOptions:
    prompt: PromptTemplate
    facets: FacetSet
    rules: ExtractRules = field(default_factory=ExtractRules)
    max_prompt_tokens: int = 2000
    title_chars: int = 200
    max_attempts: int = 3
    json_schema: bool = True  # constrain the answer by a JSON schema where the server accepts one
    refresh: bool = False  # ask again even if an answer is cached


@dataclass
class DocumentFacets:
    """The notes of one document (``""`` when not stated or failed) and, per failed facet, why."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    from_cache: bool = False
    attempts: int = 0


@dataclass
class ExtractReport:
    model: str
    prompt: str
    facet_set: str
    facets: list[str]
    dry_run: bool = False
    planned: int = 0  # documents
    done: int = 0
    calls: int = 0  # answers received (validation retries included)
    requests: int = 0  # HTTP requests, transport retries included
    asked: int = 0  # distinct prompts sent to the model (not cached)
    cache_hits: int = 0
    duplicates: int = 0  # documents whose prompt another document of the run already asked
    extracted: int = 0  # documents with every facet written or "not stated"
    failed: int = 0  # documents with at least one failed facet
    empty: int = 0  # documents without text: nothing to ask
    not_stated: int = 0  # notes the model said the document does not give
    repaired: int = 0  # answers that were near-miss JSON, fixed without asking again
    truncated: int = 0  # documents cut to fit the token budget
    prompt_tokens: int = 0
    completion_tokens: int = 0
    call_prompt_tokens: list[int] = field(default_factory=list)
    seconds: float = 0.0
    aborted: str | None = None
    response_format: str = ""
    failures: list[tuple[str, str]] = field(default_factory=list)  # (document, reason)

    @property
    def max_call_prompt_tokens(self) -> int:
        return max(self.call_prompt_tokens, default=0)


@dataclass
class ExtractRun:
    results: list[DocumentFacets | None]  # row-aligned; None for documents a stopped run never reached
    report: ExtractReport


def answer_schema(facets: Sequence[str]) -> dict[str, object]:
    """The JSON schema of an answer: one string per facet, all required, nothing else."""
    return {
        "type": "object",
        "properties": {name: {"type": "string"} for name in facets},
        "required": list(facets),
        "additionalProperties": False,
    }


def completion_budget(facet_count: int, rules: ExtractRules) -> int:
    """``max_tokens`` for an answer: room for every note at its length limit, plus the JSON around them."""
    return 64 + facet_count * (rules.facet_max_chars // 3 + 16)


@dataclass
class _Prompt:
    messages: list[dict[str, str]]
    key: str
    truncated: bool
    title: str = ""  # the title and text as the model was shown them (answers are checked against them)
    document: str = ""

    @property
    def instructions(self) -> str:
        return self.messages[0]["content"]

    @property
    def tokens(self) -> int:
        return messages_tokens(self.messages)


class FacetExtractor:
    """One run over a list of documents. ``client=None`` is a dry run: it counts what it would ask."""

    def __init__(
        self,
        documents: Sequence[DocumentText],
        config: LLMConfig,
        options: ExtractOptions,
        cache: AnswerCache,
        client: ChatClient | None = None,
        progress: Callable[[ExtractReport], None] | None = None,
    ) -> None:
        self.documents = documents
        self.config = config
        self.options = options
        self.cache = cache
        self.client = client
        self.progress = progress
        self.names = options.facets.names
        facet_view = [{"name": f.name, "instruction": f.instruction} for f in options.facets.facets]
        self._context = {"facets": facet_view, "rules": options.rules.as_context()}
        self._params = {"temperature": config.temperature, "max_tokens": config.max_tokens}
        self.report = ExtractReport(config.model, options.prompt.id, options.facets.id, list(self.names), dry_run=client is None)
        self.results: list[DocumentFacets | None] = [None] * len(documents)

    # -- prompts ----------------------------------------------------------------------------
    def prompt(self, doc: DocumentText) -> _Prompt:
        """The rendered prompt of ``doc``, its text cut so the whole prompt stays within the budget."""
        budget = self.options.max_prompt_tokens
        title = untrusted(doc.title, self.options.title_chars)
        overhead = messages_tokens(self._render(title, ""))
        limit = max(MIN_TEXT_CHARS, (budget - overhead) * 4 - 8)
        messages = self._render(title, untrusted(doc.text, limit))
        while messages_tokens(messages) > budget and limit > MIN_TEXT_CHARS:
            limit = max(MIN_TEXT_CHARS, limit * 3 // 4)
            messages = self._render(title, untrusted(doc.text, limit))
        truncated = len(doc.text) > limit and len(" ".join(doc.text.split())) > limit
        key = cache_key(self.config.model, self.options.prompt.id, self.options.prompt.hash, messages, self._params)
        shown = untrusted(doc.text, limit)
        return _Prompt(messages, key, truncated, title, f"{title}\n{shown}")

    def _render(self, title: str, text: str) -> list[dict[str, str]]:
        return self.options.prompt.render({**self._context, "document": {"title": title, "text": text}})

    # -- the run ----------------------------------------------------------------------------
    async def run(self) -> ExtractRun:
        started = time.perf_counter()
        report = self.report
        report.planned = len(self.documents)
        self._render("", "")  # a broken template fails now, before any request
        asked: dict[str, list[int]] = {}  # cache key -> documents sharing that prompt, to be asked
        cached: dict[str, DocumentFacets] = {}  # cache key -> the stored answer, for duplicates of a cached document
        to_ask: dict[str, int] = {}  # cache key -> the document whose prompt is sent (prompts are rendered again
        # when sent, not kept: 100,000 rendered prompts would hold a gigabyte)
        for index, doc in enumerate(self.documents):
            if not doc.text.strip():
                self._finish(index, DocumentFacets({n: "" for n in self.names}, {n: "the text is empty" for n in self.names}))
                report.empty += 1
                continue
            rendered = self.prompt(doc)
            report.truncated += rendered.truncated
            if rendered.key in asked or rendered.key in cached:
                report.duplicates += 1
                if rendered.key in cached:
                    self._deliver([index], cached[rendered.key])
                else:
                    asked[rendered.key].append(index)
                continue
            hit = None if self.options.refresh else self._from_cache(rendered)
            if hit is not None:
                report.cache_hits += 1
                cached[rendered.key] = hit
                self._deliver([index], hit)
                continue
            asked[rendered.key] = [index]
            to_ask[rendered.key] = index
            if self.client is None:
                report.calls += 1
                report.prompt_tokens += rendered.tokens
                report.call_prompt_tokens.append(rendered.tokens)
                report.completion_tokens += EST_COMPLETION_TOKENS_PER_FACET * len(self.names)
        if self.client is None:
            report.seconds = time.perf_counter() - started
            return ExtractRun(list(self.results), report)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in to_ask.values():
            queue.put_nowait(index)
        stop = asyncio.Event()

        async def worker() -> None:
            while not stop.is_set():
                try:
                    rendered = self.prompt(self.documents[queue.get_nowait()])
                except asyncio.QueueEmpty:
                    return
                try:
                    result = await self._ask(rendered)
                except LLMError as exc:  # only fatal ones get here: the server is gone, stop everyone
                    if report.aborted is None:
                        report.aborted = str(exc)
                    stop.set()
                    return
                self._deliver(asked[rendered.key], result)

        try:
            await asyncio.gather(*(worker() for _ in range(min(self.config.concurrency, max(1, len(to_ask))))))
        finally:
            report.requests = self.client.stats.requests
            report.response_format = self.client.response_format if report.requests else ""
            report.seconds = time.perf_counter() - started
        return ExtractRun(list(self.results), report)

    def _from_cache(self, rendered: _Prompt) -> DocumentFacets | None:
        """A stored answer, checked again like a fresh one; a bad entry is removed and asked again."""
        key = rendered.key
        entry = self.cache.get(key)
        if entry is None:
            return None
        try:
            answer = read_facet_answer(
                json.dumps(entry.answer), self.names, self.options.rules, rendered.instructions, rendered.title, rendered.document
            )
        except InvalidAnswer as exc:
            answer = FacetAnswer(problems={"*": str(exc)})
        if not answer.valid or set(answer.values) != set(self.names):
            self.cache.discard(key, f"it is not a valid answer for the facets {', '.join(self.names)} ({answer.reason() or 'facets missing'})")
            return None
        return DocumentFacets(answer.values, from_cache=True)

    async def _ask(self, rendered: _Prompt) -> DocumentFacets:
        """Ask until every facet passes (at most ``max_attempts`` answers), feeding each rejection back.

        A non-fatal request failure fails the document's facets; a fatal one propagates (the run stops).
        After the last try the best answer's good notes are kept and only its bad facets fail.
        """
        assert self.client is not None
        instructions = rendered.instructions
        messages = list(rendered.messages)
        rejected: list[tuple[str, str]] = []
        best: FacetAnswer | None = None
        attempts = prompt_tokens = completion_tokens = 0
        for attempt in range(self.options.max_attempts):
            try:
                result = await self.client.complete(messages, temperature=self._retry_temperature(attempt), follow_up=attempt > 0)
            except LLMError as exc:
                if exc.fatal:
                    raise
                return DocumentFacets({n: "" for n in self.names}, {n: f"request failed: {exc}" for n in self.names}, attempts=attempts)
            attempts += 1
            prompt_tokens += result.prompt_tokens
            completion_tokens += result.completion_tokens
            self.report.calls += 1
            self.report.prompt_tokens += result.prompt_tokens
            self.report.completion_tokens += result.completion_tokens
            self.report.call_prompt_tokens.append(result.prompt_tokens)
            try:
                answer = read_facet_answer(result.text, self.names, self.options.rules, instructions, rendered.title, rendered.document)
            except InvalidAnswer as exc:
                answer = FacetAnswer(problems={n: str(exc) for n in self.names})
            if answer.valid:
                self.report.repaired += answer.repaired
                self.report.asked += 1
                self.cache.put(rendered.key, CachedAnswer(dict(answer.values), prompt_tokens, completion_tokens))
                return DocumentFacets(answer.values, attempts=attempts)
            if best is None or len(answer.values) >= len(best.values):
                best = answer
            rejected.append((result.text, _reason(answer)))
            messages = [*rendered.messages, *feedback(rejected)]
        self.report.asked += 1
        assert best is not None
        errors = {n: f"invalid answer after {attempts} tries: {best.problems[n]}" for n in self.names if n in best.problems}
        return DocumentFacets({n: best.values.get(n, "") for n in self.names}, errors, attempts=attempts)

    def _retry_temperature(self, attempt: int) -> float | None:
        """As the labeller does: the configured temperature first, then warmer, so a retry is a new request."""
        if attempt == 0:
            return None
        base = self.config.temperature
        return round(min(MAX_RETRY_TEMPERATURE, max(base, base + RETRY_TEMPERATURE_STEP * attempt)), 3)

    def _deliver(self, indices: list[int], result: DocumentFacets) -> None:
        for index in indices:
            self._finish(index, DocumentFacets(dict(result.values), dict(result.errors), result.from_cache, result.attempts))

    def _finish(self, index: int, result: DocumentFacets) -> None:
        report = self.report
        self.results[index] = result
        report.done += 1
        if result.errors:
            report.failed += 1
            report.failures.append((self.documents[index].describe(), _summary(result.errors)))
        else:
            report.extracted += 1
            report.not_stated += sum(1 for v in result.values.values() if not v)
        if self.progress is not None:
            self.progress(report)


def _reason(answer: FacetAnswer) -> str:
    reasons = list(dict.fromkeys(answer.problems.values()))
    return "; ".join(reasons)


def _summary(errors: dict[str, str]) -> str:
    """Errors per facet on one line, facets with the same reason grouped: ``problem, method: request failed: ...``."""
    grouped: dict[str, list[str]] = {}
    for name, reason in errors.items():
        grouped.setdefault(reason, []).append(name)
    return " | ".join(f"{', '.join(names)}: {reason.replace('|', '/')}" for reason, names in grouped.items())


def error_text(result: DocumentFacets) -> str | None:
    """What the ``_extract_errors`` column holds for ``result``: None when every facet came out."""
    return _summary(result.errors) if result.errors else None


# -- entry points --------------------------------------------------------------------------
def run_config(config: LLMConfig, options: ExtractOptions) -> LLMConfig:
    """The client settings of an extraction: room for every note, and the answer schema if asked."""
    schema = answer_schema(options.facets.names) if options.json_schema else None
    return replace(config, max_tokens=max(config.max_tokens, completion_budget(len(options.facets.facets), options.rules)), json_schema=schema)


def extract_facets(
    documents: Sequence[DocumentText],
    config: LLMConfig,
    options: ExtractOptions,
    cache: AnswerCache,
    progress: Callable[[ExtractReport], None] | None = None,
) -> ExtractRun:
    """Notes for every document. A fatal error (server gone, bad key) ends the run early with
    ``report.aborted`` set; every answer validated before it is in the cache, so a rerun resumes."""
    config = run_config(config, options)

    async def go() -> ExtractRun:
        async with ChatClient(config) as client:
            return await FacetExtractor(documents, config, options, cache, client, progress).run()

    return run_to_end(go)


def estimate_extract(documents: Sequence[DocumentText], config: LLMConfig, options: ExtractOptions, cache: AnswerCache) -> ExtractReport:
    """A dry run: requests, cache hits and about how many tokens a run would spend. Sends nothing."""
    config = run_config(config, options)
    return run_to_end(lambda: FacetExtractor(documents, config, options, cache).run()).report

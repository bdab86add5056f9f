"""One OpenAI-compatible chat client: OpenAI, vLLM, Ollama, LM Studio or llama.cpp via ``base_url``.

A thin wrapper over the official ``openai`` ``AsyncOpenAI`` client. The SDK's own retries are off
(``max_retries=0``) so that retries, backoff with jitter, ``Retry-After`` and request counting are
ours and visible. Settings arrive as arguments; environment variables are read only by the CLI.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from topicmap.hierarchy.llm.gate import FIRST_TRY, FOLLOW_UP, PriorityGate
from topicmap.hierarchy.llm.api_response import MalformedResponse, parse_body, read_chat_completion, retry_after_seconds
from topicmap.hierarchy.base.errors import TopicmapError
from topicmap.hierarchy.llm.prompting import estimate_tokens, messages_tokens
from topicmap.hierarchy.base.settings_check import base_url_problem

if TYPE_CHECKING:
    import openai

NO_KEY_PLACEHOLDER = "sk-no-key-required"  # local servers (Ollama, llama.cpp, vLLM) ignore the key
OPENAI_BASE_URL = "https://api.openai.com/v1"  # explicit, so the SDK never falls back to the environment


# -- errors --------------------------------------------------------------------------------
class LLMError(TopicmapError):
    """A chat request that did not produce an answer. ``fatal`` errors stop the whole run."""

    fatal = False


class LLMConfigError(LLMError):
    fatal = True


class LLMSettingError(LLMConfigError):
    """One setting out of range. ``field`` names it, so the CLI can name the option it came from."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        super().__init__(f"{field} {value!r}: {problem}")
        self.field = field
        self.value = value
        self.problem = problem


class LLMAuthError(LLMError):
    """401/403: the key is missing, wrong or not allowed to use the model."""

    fatal = True


class LLMNotFoundError(LLMError):
    """404: wrong base URL or a model the server does not serve."""

    fatal = True


class LLMConnectionError(LLMError):
    """The server could not be reached (after retries): stop, keep what is done, resume later."""

    fatal = True


class LLMUnavailableError(LLMError):
    """Many requests in a row failed after their retries: the server is down or overloaded; stop."""

    fatal = True


class LLMRequestError(LLMError):
    """Another 4xx: this request is wrong (e.g. too long), other requests may still work."""


class LLMRateLimitError(LLMError):
    """429 on every try."""


class LLMServerError(LLMError):
    """5xx or an unreadable response on every try."""


class LLMTimeoutError(LLMError):
    """The server did not answer within the timeout on any try."""


# -- hand-offs -----------------------------------------------------------------------------
@dataclass(frozen=True)
class LLMConfig:
    """Where and how to call. ``base_url=None`` means OpenAI's API."""

    model: str
    base_url: str | None = None
    api_key: str | None = None
    timeout: float = 60.0
    concurrency: int = 8
    max_retries: int = 4  # transport retries after the first try
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 120.0  # never sleep longer than this on a server's Retry-After
    temperature: float = 0.0
    max_tokens: int = 300
    json_mode: bool = True  # send response_format={"type": "json_object"}; dropped if the server refuses it
    # A JSON schema the answer must follow, sent as response_format (json_schema, else llama-cpp-python's
    # json_object + schema); each form the server refuses is dropped for the next, down to json_mode.
    json_schema: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    max_consecutive_failures: int = 8  # answers failing in a row (after retries) before the server counts as down

    def __post_init__(self) -> None:
        """Every setting is checked here, before any request, so a bad one never costs a request."""
        for name, problem in _config_problems(self):
            raise LLMSettingError(name, getattr(self, name), problem)

    def describe(self) -> str:
        return f"{self.model} at {self.base_url or 'the OpenAI API'}"


def _config_problems(config: LLMConfig) -> list[tuple[str, str]]:
    """(field, what is wrong) for every unusable setting of ``config``."""
    problems: list[tuple[str, str]] = []

    def number(name: str, low: float, high: float = math.inf, integer: bool = False, above: bool = False) -> None:
        value = getattr(config, name)
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
            problems.append((name, "must be a whole number" if integer else "must be a finite number"))
        elif (value <= low if above else value < low) or value > high:
            limit = f"greater than {low:g}" if above else f"at least {low:g}"
            problems.append((name, f"must be between {low:g} and {high:g}" if high < math.inf else f"must be {limit}"))

    if config.base_url is not None:
        problem = base_url_problem(config.base_url) if isinstance(config.base_url, str) else "must be a string"
        if problem:
            problems.append(("base_url", problem))
    number("timeout", 0, above=True)
    number("concurrency", 1, integer=True)
    number("max_retries", 0, integer=True)
    number("backoff_base", 0)
    number("backoff_max", 0)
    number("retry_after_max", 0)
    number("temperature", 0, 2)
    number("max_tokens", 1, integer=True)
    number("max_consecutive_failures", 1, integer=True)
    return problems


@dataclass(frozen=True)
class ChatResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    attempts: int  # HTTP requests this answer took (1 = first try)
    usage_estimated: bool = False


@dataclass
class LLMStats:
    """Counters over one client's life; read by the progress bar and the run report."""

    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def count_error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


# -- the client ----------------------------------------------------------------------------
class ChatClient:
    """Bounded-concurrency chat calls with our own retries. Use as ``async with ChatClient(cfg):``."""

    def __init__(self, config: LLMConfig, rng: random.Random | None = None) -> None:
        if not config.model:
            raise LLMConfigError("no model given: pass --model (or set it in the config file)")
        self.config = config
        self.stats = LLMStats()
        self._rng = rng or random.Random()
        self._formats = response_formats(config)  # tried in order; one the server refuses is dropped
        self._token_param = "max_tokens"  # reasoning models want max_completion_tokens
        self._send_temperature = True  # some models accept only their default temperature
        self._gate: PriorityGate | None = None
        self._paused_until = 0.0  # time.monotonic() before which no request is sent (a server's Retry-After)
        self._failure_streak = 0  # answers that failed in a row: many means the server, not the request
        self._client: openai.AsyncOpenAI | None = None

    async def __aenter__(self) -> ChatClient:
        self._gate = PriorityGate(self.config.concurrency)
        return self

    def _sdk(self) -> openai.AsyncOpenAI:
        """The SDK client, made on first use: a run served from the cache never even imports it."""
        import openai

        if self._client is None:
            self._client = openai.AsyncOpenAI(
                base_url=self.config.base_url or OPENAI_BASE_URL,
                api_key=self.config.api_key or NO_KEY_PLACEHOLDER,
                timeout=self.config.timeout,
                max_retries=0,
            )
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def complete(self, messages: list[dict[str, str]], temperature: float | None = None, follow_up: bool = False) -> ChatResult:
        """One answer for ``messages``, retrying transient failures; raises an :class:`LLMError`.

        ``temperature`` overrides the configured one for this request (a validation retry asks warmer).
        A ``follow_up`` (a retry of an invalid answer) goes before waiting first tries, so what has
        been started is finished, and stored, first.
        After ``max_consecutive_failures`` answers in a row failed (each after its retries), the
        failure is an :class:`LLMUnavailableError`, which is fatal: every caller stops alike.
        """
        try:
            result = await self._complete(messages, temperature, FOLLOW_UP if follow_up else FIRST_TRY)
        except LLMError as exc:
            if exc.fatal:
                raise
            self._failure_streak += 1
            if self._failure_streak >= self.config.max_consecutive_failures:
                raise LLMUnavailableError(
                    f"{self._failure_streak} requests in a row failed, the last with: {exc}; stopping until the server recovers"
                ) from None
            raise
        self._failure_streak = 0
        return result

    async def _complete(self, messages: list[dict[str, str]], temperature: float | None, priority: int) -> ChatResult:
        import openai

        assert self._gate is not None, "use 'async with ChatClient(...)'"
        client = self._sdk()
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._gate.slot(priority if attempt == 1 else FOLLOW_UP):
                    await self._wait_for_pause()  # here, not before the queue: a pause may begin while we wait
                    self.stats.requests += 1
                    response = await client.chat.completions.with_raw_response.create(**self._request(messages, temperature))
                    body = await response.http_response.aread()
                return self._result(body, messages, attempt)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if self._adapt(str(exc).lower()):
                    continue  # the server refused an optional parameter: retry at once without it
                self.stats.count_error(str(exc.status_code))
                raise LLMRequestError(f"{self.config.describe()} refused the request: {_message(exc)}") from None
            except openai.InternalServerError as exc:
                if self._adapt(_refused_parameter(exc)):
                    continue  # llama-cpp-python answers a parameter it cannot validate with a 500 naming it
                error, delay = self._classify(exc, attempt)
                if delay is None or attempt > self.config.max_retries:
                    raise error from None
                self.stats.retries += 1
                await asyncio.sleep(delay)
            except Exception as exc:  # classified below; anything unknown propagates
                error, delay = self._classify(exc, attempt)
                if delay is None or attempt > self.config.max_retries:
                    raise error from None
                self.stats.retries += 1
                await asyncio.sleep(delay)

    # -- internals --------------------------------------------------------------------------
    def _request(self, messages: list[dict[str, str]], temperature: float | None = None) -> dict[str, Any]:
        request: dict[str, Any] = {"model": self.config.model, "messages": messages, self._token_param: self.config.max_tokens}
        if self._send_temperature:
            request["temperature"] = self.config.temperature if temperature is None else temperature
        if self._formats:
            request["response_format"] = self._formats[0]
        return request

    @property
    def response_format(self) -> str:
        """The structured-output form in use now: ``json_schema``, ``json_object+schema``, ``json_object`` or ``none``."""
        if not self._formats:
            return "none"
        form = self._formats[0]
        return "json_object+schema" if "schema" in form else str(form["type"])

    def _adapt(self, error: str) -> bool:
        """Drop or rename a parameter the server says it does not support; False if none applies."""
        schema_sent = bool(self._formats) and ("schema" in self._formats[0] or "json_schema" in self._formats[0])
        if self._formats and ("response_format" in error or (schema_sent and "schema" in error)):
            self._formats.pop(0)  # e.g. LM Studio refuses json_object, llama-cpp-python json_schema (422, or 500)
            return True
        if self._token_param == "max_tokens" and "max_tokens" in error and "max_completion_tokens" in error:
            self._token_param = "max_completion_tokens"  # OpenAI reasoning models
            return True
        if self._send_temperature and "temperature" in error:
            self._send_temperature = False
            return True
        return False

    def _result(self, body: bytes, messages: list[dict[str, str]], attempt: int) -> ChatResult:
        """The answer in a 200 body; a :class:`MalformedResponse` is classified (and retried) by the caller."""
        text, usage = read_chat_completion(parse_body(body))
        if usage is not None:
            prompt_tokens, completion_tokens, estimated = usage.prompt_tokens, usage.completion_tokens, False
        else:
            prompt_tokens, completion_tokens, estimated = messages_tokens(messages), estimate_tokens(text), True
        self.stats.prompt_tokens += prompt_tokens
        self.stats.completion_tokens += completion_tokens
        return ChatResult(text, prompt_tokens, completion_tokens, attempt, estimated)

    def _classify(self, exc: Exception, attempt: int) -> tuple[LLMError, float | None]:
        """The error to raise if we give up, and how long to wait before retrying (None: do not)."""
        import openai

        where = self.config.describe()
        backoff = self._backoff(attempt)
        if isinstance(exc, openai.APITimeoutError):
            self.stats.count_error("timeout")
            hint = (
                f"; with {self.config.concurrency} requests in flight, a server that answers one at a time (llama.cpp, Ollama on a CPU) "
                "keeps each waiting in its queue: lower --concurrency (e.g. -j 1) or raise --timeout"
                if self.config.concurrency > 1
                else "; raise --timeout if the server is just slow"
            )
            return LLMTimeoutError(f"{where} did not answer within {self.config.timeout:g} s ({attempt} tries){hint}"), backoff
        if isinstance(exc, openai.APIConnectionError):
            self.stats.count_error("connection")
            return LLMConnectionError(f"cannot reach {where} ({attempt} tries): {_message(exc)}"), backoff
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            self.stats.count_error(str(status))
            if status in (401, 403):
                return LLMAuthError(f"{where} rejected the API key (HTTP {status}): {_message(exc)}; check OPENAI_API_KEY"), None
            if status == 404:
                return LLMNotFoundError(f"{where} answered 404: {_message(exc)}; check --model and the base URL (it usually ends in /v1)"), None
            retry_after = retry_after_seconds(exc.response.headers)
            if retry_after is not None:
                retry_after = min(retry_after, self.config.retry_after_max)
                self._paused_until = max(self._paused_until, time.monotonic() + retry_after)
                backoff = retry_after + self._rng.uniform(0, min(1.0, 0.1 * retry_after + 0.01))
            if status == 429:
                return LLMRateLimitError(f"{where} kept answering 429 (rate limited, {attempt} tries)"), backoff
            if status >= 500 or status == 408:
                return LLMServerError(f"{where} kept failing with HTTP {status} ({attempt} tries)"), backoff
            return LLMRequestError(f"{where} refused the request (HTTP {status}): {_message(exc)}"), None
        if isinstance(exc, MalformedResponse):  # a 200 that is not a chat completion (a proxy, a crashed worker)
            self.stats.count_error("bad_response")
            return LLMServerError(f"{where} sent a malformed response: {exc} ({attempt} tries)"), backoff
        raise exc

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half fixed, half random, so retries do not stampede."""
        delay = min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempt - 1))
        return delay * (0.5 + 0.5 * self._rng.random())

    async def _wait_for_pause(self) -> None:
        """After a Retry-After, every request waits: no point in hammering a server that asked us not to.

        Called just before sending, and again if another 429 extended the pause meanwhile.
        """
        while (remaining := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(remaining)


def _refused_parameter(exc: Exception) -> str:
    """The error text of a 500 that is a request validation error (which names the field), else ""."""
    text = str(exc).lower()
    return text if "validation error" in text or "input should be" in text else ""


def response_formats(config: LLMConfig) -> list[dict[str, Any]]:
    """The ``response_format`` values to try, most constraining first."""
    formats: list[dict[str, Any]] = []
    if config.json_schema is not None:
        formats.append({"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": config.json_schema}})
        formats.append({"type": "json_object", "schema": config.json_schema})
    if config.json_mode:
        formats.append({"type": "json_object"})
    return formats


def _message(exc: Exception) -> str:
    """The server's own error message, on one line and short."""
    body = getattr(exc, "body", None)
    text = str(exc)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            text = str(inner["message"])
    return " ".join(text.split())[:200]

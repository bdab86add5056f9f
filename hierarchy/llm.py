"""One OpenAI-compatible chat client: OpenAI, vLLM, Ollama, LM Studio or llama.cpp via ``base_url``.

A thin wrapper over the official ``openai`` ``AsyncOpenAI`` client. The SDK's own retries are off
(``max_retries=0``) so that retries, backoff with jitter, ``Retry-After`` and request counting are
ours and visible. Settings arrive as arguments; environment variables are read only by the CLI.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hierarchy.errors import TopicmapError
from hierarchy.prompting import estimate_tokens, messages_tokens

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

    def describe(self) -> str:
        return f"{self.model} at {self.base_url or 'the OpenAI API'}"


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
        if config.concurrency < 1:
            raise LLMConfigError(f"concurrency must be at least 1, got {config.concurrency}")
        self.config = config
        self.stats = LLMStats()
        self._rng = rng or random.Random()
        self._json_mode = config.json_mode
        self._token_param = "max_tokens"  # reasoning models want max_completion_tokens
        self._send_temperature = True  # some models accept only their default temperature
        self._semaphore: asyncio.Semaphore | None = None
        self._paused_until = 0.0
        self._client: openai.AsyncOpenAI | None = None

    async def __aenter__(self) -> ChatClient:
        self._semaphore = asyncio.Semaphore(self.config.concurrency)
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

    async def complete(self, messages: list[dict[str, str]], temperature: float | None = None) -> ChatResult:
        """One answer for ``messages``, retrying transient failures; raises an :class:`LLMError`.

        ``temperature`` overrides the configured one for this request (a validation retry asks warmer).
        """
        import openai

        assert self._semaphore is not None, "use 'async with ChatClient(...)'"
        client = self._sdk()
        attempt = 0
        while True:
            attempt += 1
            await self._wait_for_pause()
            try:
                async with self._semaphore:
                    self.stats.requests += 1
                    response = await client.chat.completions.create(**self._request(messages, temperature))
                return self._result(response, messages, attempt)
            except openai.BadRequestError as exc:
                if self._adapt(str(exc).lower()):
                    continue  # the server refused an optional parameter: retry at once without it
                self.stats.count_error("400")
                raise LLMRequestError(f"{self.config.describe()} refused the request: {_message(exc)}") from None
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
        if self._json_mode:
            request["response_format"] = {"type": "json_object"}
        return request

    def _adapt(self, error: str) -> bool:
        """Drop or rename a parameter the server says it does not support; False if none applies."""
        if self._json_mode and "response_format" in error:
            self._json_mode = False  # e.g. LM Studio: the prompt alone asks for JSON
            return True
        if self._token_param == "max_tokens" and "max_tokens" in error and "max_completion_tokens" in error:
            self._token_param = "max_completion_tokens"  # OpenAI reasoning models
            return True
        if self._send_temperature and "temperature" in error:
            self._send_temperature = False
            return True
        return False

    def _result(self, response: Any, messages: list[dict[str, str]], attempt: int) -> ChatResult:
        choices = getattr(response, "choices", None) or []
        text = (choices[0].message.content or "") if choices else ""
        usage = getattr(response, "usage", None)
        if usage is not None and usage.prompt_tokens is not None:
            prompt_tokens, completion_tokens, estimated = usage.prompt_tokens, usage.completion_tokens or 0, False
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
            return LLMTimeoutError(f"{where} did not answer within {self.config.timeout:g} s ({attempt} tries)"), backoff
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
            retry_after = _retry_after(exc.response.headers)
            if retry_after is not None:
                retry_after = min(retry_after, self.config.retry_after_max)
                self._paused_until = max(self._paused_until, time.monotonic() + retry_after)
                backoff = retry_after + self._rng.uniform(0, min(1.0, 0.1 * retry_after + 0.01))
            if status == 429:
                return LLMRateLimitError(f"{where} kept answering 429 (rate limited, {attempt} tries)"), backoff
            if status >= 500 or status == 408:
                return LLMServerError(f"{where} kept failing with HTTP {status} ({attempt} tries)"), backoff
            return LLMRequestError(f"{where} refused the request (HTTP {status}): {_message(exc)}"), None
        if isinstance(exc, ValueError):  # a 200 whose body is not JSON (a proxy, a crashed worker)
            self.stats.count_error("bad_response")
            return LLMServerError(f"{where} sent a response that is not valid JSON ({attempt} tries)"), backoff
        raise exc

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half fixed, half random, so retries do not stampede."""
        delay = min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempt - 1))
        return delay * (0.5 + 0.5 * self._rng.random())

    async def _wait_for_pause(self) -> None:
        """After a Retry-After, every request waits: no point in hammering a server that asked us not to."""
        remaining = self._paused_until - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)


def _retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date), if present."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _message(exc: Exception) -> str:
    """The server's own error message, on one line and short."""
    body = getattr(exc, "body", None)
    text = str(exc)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            text = str(inner["message"])
    return " ".join(text.split())[:200]

"""The chat client against a real HTTP server on 127.0.0.1, through the real ``openai`` client."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import pytest

from topicmap.hierarchy.llm.client import (
    ChatClient,
    ChatResult,
    LLMAuthError,
    LLMConfig,
    LLMConnectionError,
    LLMNotFoundError,
    LLMRateLimitError,
    LLMServerError,
    LLMTimeoutError,
)
from tests.llm_fixtures import fake_server, fast_config  # noqa: F401 - fixture
from tests.openai_server import Fault, FakeOpenAIServer

MESSAGES = [{"role": "system", "content": "Answer JSON."}, {"role": "user", "content": "Keywords: bread, dough, oven"}]


def complete(config: LLMConfig, messages: list[dict[str, str]] = MESSAGES) -> tuple[ChatResult, ChatClient]:
    async def go() -> tuple[ChatResult, ChatClient]:
        async with ChatClient(config) as client:
            return await client.complete(messages), client

    return asyncio.run(go())


def test_answer_and_token_usage(fake_server: FakeOpenAIServer) -> None:
    result, client = complete(fast_config(fake_server.base_url))
    assert json.loads(result.text) == {"label": "Bread Dough", "summary": "Documents about bread, dough, oven."}
    assert result.prompt_tokens > 0 and result.completion_tokens > 0 and result.attempts == 1
    request = fake_server.chat_requests[0]
    assert request["model"] == "fake-model" and request["messages"] == MESSAGES
    assert request["response_format"] == {"type": "json_object"} and request["temperature"] == 0.0
    assert client.stats.requests == 1 and client.stats.prompt_tokens == result.prompt_tokens


def test_429_with_retry_after_is_honoured_then_succeeds(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(Fault("status", status=429, retry_after="0.4"))
    started = time.perf_counter()
    result, client = complete(fast_config(fake_server.base_url, backoff_base=0.001))
    assert time.perf_counter() - started >= 0.38  # waited as told, not the 1 ms backoff
    assert result.attempts == 2 and client.stats.retries == 1 and client.stats.errors == {"429": 1}


def test_retry_after_as_http_date_and_in_ms(fake_server: FakeOpenAIServer) -> None:
    from email.utils import formatdate

    fake_server.script(Fault("status", status=503, retry_after=formatdate(time.time() + 1, usegmt=True)))
    result, _ = complete(fast_config(fake_server.base_url))
    assert result.attempts == 2


def test_500s_are_retried_with_backoff_then_succeed(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(Fault("status", status=500), Fault("status", status=502))
    result, client = complete(fast_config(fake_server.base_url))
    assert result.attempts == 3 and client.stats.errors == {"500": 1, "502": 1}


def test_persistent_500_gives_a_server_error(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(*[Fault("status", status=500)] * 3)
    with pytest.raises(LLMServerError, match="HTTP 500") as info:
        complete(fast_config(fake_server.base_url, max_retries=2))
    assert not info.value.fatal and len(fake_server.chat_requests) == 3


def test_persistent_429_gives_a_rate_limit_error(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(*[Fault("status", status=429, retry_after="0")] * 2)
    with pytest.raises(LLMRateLimitError):
        complete(fast_config(fake_server.base_url, max_retries=1))


def test_slow_server_past_the_timeout(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(Fault("slow", delay=1.0), Fault("slow", delay=1.0))
    started = time.perf_counter()
    with pytest.raises(LLMTimeoutError, match=r"did not answer within 0\.2 s"):
        complete(fast_config(fake_server.base_url, timeout=0.2, max_retries=1))
    assert time.perf_counter() - started < 1.5


def test_slow_once_then_answers(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(Fault("slow", delay=1.5))
    result, client = complete(fast_config(fake_server.base_url, timeout=0.5))
    assert result.attempts == 2 and client.stats.errors == {"timeout": 1}


def test_malformed_response_body_is_retried(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(Fault("malformed_body"))
    result, client = complete(fast_config(fake_server.base_url))
    assert result.attempts == 2 and client.stats.errors == {"bad_response": 1}


def test_unreachable_server_is_a_fatal_connection_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(LLMConnectionError, match="cannot reach") as info:
        complete(fast_config(f"http://127.0.0.1:{port}/v1", max_retries=1))
    assert info.value.fatal


@pytest.mark.parametrize(("status", "error"), [(401, LLMAuthError), (403, LLMAuthError), (404, LLMNotFoundError)])
def test_auth_and_not_found_are_fatal_and_not_retried(fake_server: FakeOpenAIServer, status: int, error: type[Exception]) -> None:
    fake_server.script(Fault("status", status=status))
    with pytest.raises(error):
        complete(fast_config(fake_server.base_url))
    assert len(fake_server.chat_requests) == 1


def test_server_without_json_mode_gets_plain_requests() -> None:
    """LM Studio and some llama.cpp builds refuse response_format json_object: ask in the prompt only."""

    def refuse_json_mode(body: dict[str, Any]) -> Fault | None:
        if "response_format" in body:
            return Fault("status", status=400, message="'response_format.type' must be 'json_schema'")
        return None

    async def go() -> list[ChatResult]:
        async with ChatClient(fast_config(server.base_url)) as client:
            return [await client.complete(MESSAGES), await client.complete(MESSAGES)]

    with FakeOpenAIServer(fault_for=refuse_json_mode) as server:
        results = asyncio.run(go())
        assert json.loads(results[1].text)["label"] == "Bread Dough"
        assert ["response_format" in r for r in server.chat_requests] == [True, False, False]


def test_reasoning_model_parameters_are_adapted() -> None:
    def strict_model(body: dict[str, Any]) -> Fault | None:
        if "max_tokens" in body:
            return Fault("status", status=400, message="Unsupported parameter: 'max_tokens'. Use 'max_completion_tokens' instead.")
        if "temperature" in body:
            return Fault("status", status=400, message="Unsupported value: 'temperature' does not support 0.0 with this model.")
        return None

    with FakeOpenAIServer(fault_for=strict_model) as server:
        result, client = complete(fast_config(server.base_url))
        last = server.chat_requests[-1]
    assert json.loads(result.text)["label"] == "Bread Dough" and client.stats.retries == 0
    assert last["max_completion_tokens"] == 300 and "max_tokens" not in last and "temperature" not in last


def test_other_400_is_a_request_error_for_this_call_only(fake_server: FakeOpenAIServer) -> None:
    from topicmap.hierarchy.llm.client import LLMRequestError

    fake_server.script(Fault("status", status=400, message="context length exceeded"))
    with pytest.raises(LLMRequestError, match="context length exceeded") as info:
        complete(fast_config(fake_server.base_url))
    assert not info.value.fatal


def test_concurrency_is_bounded(fake_server: FakeOpenAIServer) -> None:
    fake_server.fault_for = lambda body: Fault("slow", delay=0.05)

    async def go() -> None:
        async with ChatClient(fast_config(fake_server.base_url, concurrency=3)) as client:
            await asyncio.gather(*(client.complete(MESSAGES) for _ in range(12)))

    asyncio.run(go())
    assert 2 <= fake_server.max_in_flight <= 3


def test_retry_after_parsing() -> None:
    from email.utils import formatdate

    from topicmap.hierarchy.llm.api_response import retry_after_seconds as _retry_after

    assert _retry_after({"retry-after": "3"}) == 3.0
    assert _retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert 5 <= (_retry_after({"retry-after": formatdate(time.time() + 7, usegmt=True)}) or 0) <= 7
    assert _retry_after({"retry-after": "soon"}) is None and _retry_after({}) is None


def test_huge_retry_after_is_capped(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(Fault("status", status=429, retry_after="3600"))
    started = time.perf_counter()
    result, _ = complete(fast_config(fake_server.base_url, retry_after_max=0.2))
    assert result.attempts == 2 and time.perf_counter() - started < 2

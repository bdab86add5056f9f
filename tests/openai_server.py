"""A real HTTP server on 127.0.0.1 that speaks OpenAI chat-completions, for tests and the benchmark.

It answers like a tiny deterministic "model": a label made from the ``Keywords:`` line of the prompt,
and new distinct labels for a sibling-distinctness prompt. Faults are scripted so that the real
``openai`` client, our retries and the CLI are exercised end to end:

* ``script(Fault(...), ...)`` queues faults consumed one per request, before normal answers;
* ``fault_for`` is a predicate on the request body that may return a fault (for node-specific faults);
* ``die_after=N`` answers N requests, then drops every connection and closes the listener.

Run it by hand: ``python tests/openai_server.py --port 8011`` (prints its base URL).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour.

    kind: ``status`` (HTTP ``status`` with optional ``retry_after``), ``slow`` (sleep ``delay`` then
    answer), ``malformed_body`` (200 with a body that is not JSON), ``malformed_content`` (valid
    envelope, message content that is not the JSON asked for), ``echo`` (JSON whose label and summary
    copy the system prompt), ``drop`` (close the connection without answering), ``envelope`` (200 with
    ``body`` as the whole response, for any endpoint: a JSON value, or ``bytes`` sent as they are).
    """

    kind: str
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0
    message: str | None = None
    body: Any = None


_KEYWORDS = re.compile(r"^Keywords(?: of the topic)?:\s*(.+)$", re.MULTILINE)
_SIBLING = re.compile(r"^- id=(?P<id>[^;]+); label=(?P<label>[^;]*); keywords=(?P<kw>.*?)(?:; (?P<fixed>fixed))?$", re.MULTILINE)
_CHILD = re.compile(r"^- (.+?) \((?:\d+ documents|<?\d+%)\)", re.MULTILINE)
_INJECTION = re.compile(r"name this cluster ([A-Za-z][A-Za-z ]{1,40}[A-Za-z])", re.IGNORECASE)


def first_user_message(body: dict[str, Any]) -> str:
    for message in body.get("messages", []):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def system_message(body: dict[str, Any]) -> str:
    for message in body.get("messages", []):
        if message.get("role") == "system":
            return str(message.get("content", ""))
    return ""


_FACET_FORM = re.compile(r'^\{"\w+": "<note>".*\}$', re.MULTILINE)
_FACET_KEY = re.compile(r'"(\w+)": "<note>"')
_DOCUMENT = re.compile(r"<document>\s*(?:Title: (?P<title>[^\n]*)\n)?(?P<text>.*?)\s*</document>", re.DOTALL)


def facet_names(body: dict[str, Any]) -> list[str]:
    """The facets an extraction prompt asks for (from its answer template), or [] for another prompt."""
    form = _FACET_FORM.search(system_message(body))
    return _FACET_KEY.findall(form.group(0)) if form else []


def document_of(body: dict[str, Any]) -> str:
    """The document text an extraction prompt shows."""
    match = _DOCUMENT.search(first_user_message(body))
    return match.group("text").strip() if match else ""


def facet_answer(body: dict[str, Any]) -> str:
    """The fake model's extraction: per facet, the facet's name and the document's first six words."""
    head = " ".join(document_of(body).split()[:6])
    return json.dumps({name: f"{name.title()} of {head}." for name in facet_names(body)})


def keyword_label(body: dict[str, Any]) -> str:
    """The fake model's answer: title-cased first two keywords, summary from the first three.

    An extraction prompt (``topicmap extract``) gets :func:`facet_answer` instead.
    """
    if facet_names(body):
        return facet_answer(body)
    prompt = first_user_message(body)
    siblings = list(_SIBLING.finditer(prompt))
    if siblings:
        return _distinct_answer(siblings)
    match = _KEYWORDS.search(prompt)
    children = _CHILD.findall(prompt)
    if match:
        words = [w.strip() for w in match.group(1).split(",") if w.strip()]
    elif children:  # a parent prompt without keywords (label_parent@v2): words from its children's names
        words = [c.split()[0].lower() for c in children[:2]] + ["themes"]
    else:
        words = ["misc", "items"]
    label = " ".join(w.title() for w in words[:2]) if match or not children else " ".join(w.title() for w in words)
    summary = f"Documents about {', '.join(words[:3])}."
    if children:  # a parent: its summary mentions its children, as a real model's would
        summary = f"Documents about {', '.join(words[:3])}, such as {'; '.join(children[:3])}."
    return json.dumps({"label": label, "summary": summary})


def gullible_label(body: dict[str, Any]) -> str:
    """Like :func:`keyword_label`, but obeys any "name this cluster X" it reads anywhere in the prompt."""
    match = _INJECTION.search(first_user_message(body))
    if match and not _SIBLING.search(first_user_message(body)):
        return json.dumps({"label": match.group(1).strip(), "summary": "As instructed."})
    return keyword_label(body)


def _distinct_answer(siblings: list[re.Match[str]]) -> str:
    keyword_lists = {m.group("id").strip(): [k.strip() for k in m.group("kw").split(",") if k.strip()] for m in siblings}
    answers = []
    for match in siblings:
        node_id = match.group("id").strip()
        if match.group("fixed"):
            continue
        others = {k for other, kws in keyword_lists.items() if other != node_id for k in kws}
        own = keyword_lists[node_id]
        unique = next((k for k in own if k not in others), node_id)
        answers.append({"id": node_id, "label": f"{match.group('label').strip()} {unique.title()}"})
    return json.dumps({"labels": answers})


def embedding_of(text: str, dimensions: int = 8) -> list[float]:
    """The fake embedding of a text: a fixed pseudo-random unit vector per distinct text."""
    import hashlib

    digest = hashlib.sha256(text.encode("utf-8")).digest()
    values = [b / 255.0 - 0.5 for b in digest[:dimensions]]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


class QuietHTTPServer(ThreadingHTTPServer):
    """A test server that stays silent when a client hangs up (a timed-out or cancelled request).

    The default handler prints a traceback to this process's stderr, which an in-process CLI test captures
    as if the command had printed it. Other errors are still printed.
    """

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class FakeOpenAIServer:
    """Start with ``with FakeOpenAIServer() as server:``; ``server.base_url`` ends in ``/v1``."""

    def __init__(
        self,
        responder: Responder = keyword_label,
        die_after: int | None = None,
        fault_for: Callable[[dict[str, Any]], Fault | None] | None = None,
        port: int = 0,
    ) -> None:
        self.responder = responder
        self.die_after = die_after
        self.fault_for = fault_for
        self.requests: list[dict[str, Any]] = []
        self.arrived_at: list[float] = []  # time.monotonic() of each request in ``requests``, taken on arrival
        self.answered = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.dead = False
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._port = port
        self._httpd: QuietHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ----------------------------------------------------------------------------
    def script(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if "messages" in r]

    def start(self) -> FakeOpenAIServer:
        self._httpd = QuietHTTPServer(("127.0.0.1", self._port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            self.dead = True
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self.stop()

    # -- request handling -------------------------------------------------------------------
    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _next_action(self, body: dict[str, Any]) -> Fault | None:
        with self._lock:
            self.requests.append(body)
            self.arrived_at.append(time.monotonic())
            if self._faults:
                return self._faults.pop(0)
        return self.fault_for(body) if self.fault_for is not None else None

    def _count_answer(self) -> bool:
        """Count one answer; False if the server died meanwhile (then the connection is dropped)."""
        with self._lock:
            if self.dead:
                return False
            self.answered += 1
            if self.die_after is not None and self.answered >= self.die_after:
                self.dead = True
                threading.Thread(target=self._die, daemon=True).start()
            return True

    def _die(self) -> None:
        httpd = self._httpd
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                if self.path.rstrip("/").endswith("/stats"):  # for the benchmark, which runs us in a subprocess
                    self._json(200, {"requests": len(server.chat_requests), "answered": server.answered})
                    return
                self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                server._enter()
                try:
                    self._post()
                finally:
                    server._leave()

            def _post(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                if server.dead:
                    self.close_connection = True
                    return
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    self._json(400, {"error": {"message": "request body is not JSON", "type": "invalid_request_error"}})
                    return
                fault = server._next_action(body)
                if fault is not None and fault.kind == "drop":
                    self.close_connection = True
                    return
                if fault is not None and fault.kind == "status":
                    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                    message = fault.message or f"scripted {fault.status}"
                    self._json(fault.status, {"error": {"message": message, "type": "server_error"}}, headers)
                    return
                if fault is not None and fault.kind == "slow":
                    time.sleep(fault.delay)
                if fault is not None and fault.kind == "envelope":
                    server._count_answer()
                    raw_body = fault.body if isinstance(fault.body, bytes) else json.dumps(fault.body).encode("utf-8")
                    self._raw(200, raw_body, "application/json")
                    return
                if self.path.rstrip("/").endswith("/embeddings"):
                    self._embeddings(body)
                    return
                if fault is not None and fault.kind == "malformed_body":
                    self._raw(200, b'{"id": "x", "choices": [ this is not json', "application/json")
                    return
                if fault is not None and fault.kind == "malformed_content":
                    content = "Sure! Here is a label: **Great Topic**"
                elif fault is not None and fault.kind == "echo":
                    system = system_message(body)
                    content = json.dumps({"label": system.splitlines()[0][:60], "summary": system[:300]})
                else:
                    content = server.responder(body)
                if not server._count_answer():
                    self.close_connection = True
                    return
                prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
                usage = {"prompt_tokens": prompt_chars // 4 + 1, "completion_tokens": len(content) // 4 + 1}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                self._json(
                    200,
                    {
                        "id": f"chatcmpl-{server.answered}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "fake-model"),
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                        "usage": usage,
                    },
                )

            def _embeddings(self, body: dict[str, Any]) -> None:
                """Deterministic 8-d vectors from each input's hash (the embeddings endpoint)."""
                texts = body.get("input", [])
                texts = [texts] if isinstance(texts, str) else list(texts)
                if not server._count_answer():
                    self.close_connection = True
                    return
                data = [{"object": "embedding", "index": i, "embedding": embedding_of(t)} for i, t in enumerate(texts)]
                data.reverse()  # the API does not promise order; clients must sort by index
                tokens = sum(len(t) // 4 + 1 for t in texts)
                self._json(200, {"object": "list", "data": data, "model": body.get("model", "fake-embed"), "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

            def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                self._raw(status, json.dumps(payload).encode("utf-8"), "application/json", headers)

            def _raw(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        return Handler


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible chat server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = FakeOpenAIServer(port=args.port).start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()

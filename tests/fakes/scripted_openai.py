"""A real OpenAI-compatible HTTP server that answers from scripts, for tests and benchmarks.

It speaks the wire format the OpenAI SDK expects (``POST /v1/chat/completions``, streamed as
server-sent events, and ``GET /v1/models``) over a real loopback socket, so the code under test
runs its real HTTP client. Each request consumes the next queued :class:`Script`; a script is a
list of steps: text pieces, tool calls, usage, and faults (an HTTP error status, a stall, a
dropped connection).

    async with ScriptedOpenAI() as server:
        server.enqueue(Script(Text("Hel"), Text("lo", delay=0.05), Usage()))
        client = AsyncOpenAI(base_url=server.base_url, api_key="test")
        ...
        assert server.requests[0].body["model"] == "m"

Streams really stream: every chunk is written to the socket when its step runs, so delays are
observable as time to first token and gaps between tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import uvicorn

# --- script steps ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """A piece of assistant text, sent as one content delta after waiting ``delay`` seconds."""

    text: str
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class ToolCallStep:
    """One tool call, streamed like OpenAI does: a header delta with the id and the name, then
    the arguments in pieces of ``piece_chars`` characters."""

    name: str
    arguments: str
    id: str | None = None
    delay: float = 0.0
    piece_chars: int = 8


@dataclass(frozen=True, slots=True)
class Usage:
    """Report token usage in the final chunk (when the request asks for it).

    A count left as ``None`` is estimated: prompt tokens from the words of the request's
    messages, completion tokens as the number of text and argument pieces sent.
    """

    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class HttpError:
    """Answer with this HTTP status before the stream starts.

    Placed after output already went out, the status line is long gone, so it becomes what
    OpenAI does in that case: a ``data: {"error": ...}`` event, then the stream ends.
    ``retry_after`` is sent verbatim as the ``Retry-After`` header (seconds or an HTTP date).
    """

    status: int
    retry_after: float | str | None = None
    body: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Stall:
    """Send nothing for ``seconds``: before the first chunk or between chunks, where placed.

    A stall ends early when the client goes away or the server stops.
    """

    seconds: float


@dataclass(frozen=True, slots=True)
class Drop:
    """Close the connection abruptly: no ``[DONE]``, an incomplete HTTP body."""


Step = Text | ToolCallStep | Usage | HttpError | Stall | Drop

# Words with their leading space, single punctuation marks, long words cut; joins back exactly.
_TOKEN_RE = re.compile(r"\s*(?:\w{1,6}|[^\w\s])|\s+")


class Script:
    """How the server answers one request: its steps, in order."""

    def __init__(self, *steps: Step, finish_reason: str | None = None) -> None:
        self.steps: tuple[Step, ...] = steps
        # ``None`` means "tool_calls" when the script calls a tool, else "stop".
        self.finish_reason = finish_reason

    @classmethod
    def tokens(cls, text: str, per_token_delay: float = 0.0, usage: bool = True) -> Script:
        """``text`` split into small token-like pieces, each sent ``per_token_delay`` apart."""
        steps: list[Step] = [Text(t, delay=per_token_delay) for t in split_tokens(text)]
        if usage:
            steps.append(Usage())
        return cls(*steps)

    @property
    def text(self) -> str:
        """The assistant text this script produces if nothing goes wrong."""
        return "".join(s.text for s in self.steps if isinstance(s, Text))

    def __repr__(self) -> str:
        return f"Script{self.steps!r}"


def split_tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


DEFAULT_TEXT = "Hello from the scripted model."


# --- what the server saw ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None for a request without a body
    at: float  # time.monotonic() when the request arrived


class _Dropped(Exception):
    """Raised inside the app to make uvicorn abort the connection mid-response."""


class _QuietDrops(logging.Filter):
    # A deliberate drop is the script working, not an application error worth a traceback.
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _Dropped))


_QUIET_DROPS = _QuietDrops()


class _GuestServer(uvicorn.Server):
    """A uvicorn server inside the test's own event loop; signals stay with the test runner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


# --- the server ------------------------------------------------------------------------------

AsgiMessage = dict[str, Any]
Receive = Callable[[], Awaitable[AsgiMessage]]
Send = Callable[[AsgiMessage], Awaitable[None]]


class ScriptedOpenAI:
    """An OpenAI-compatible server on ``127.0.0.1`` and a free port, in the running loop.

    ``requests`` lists every request received, in arrival order. ``disconnects`` counts the
    streamed responses whose client went away before the stream ended.
    """

    def __init__(
        self, *, default: Script | None = None, models: tuple[str, ...] = ("scripted",)
    ) -> None:
        self.default = default or Script.tokens(DEFAULT_TEXT)
        self.models = models
        self.requests: list[ReceivedRequest] = []
        self.disconnects = 0
        self.port = 0
        self._scripts: deque[Script] = deque()
        self._active: set[_Reply] = set()
        self._server: _GuestServer | None = None
        self._task: asyncio.Task[None] | None = None

    # lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=0,
            interface="asgi3",
            lifespan="off",
            # Leave the process's logging configuration alone; records still reach pytest.
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        logging.getLogger("uvicorn.error").addFilter(_QUIET_DROPS)
        self._server = _GuestServer(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("scripted server stopped during start-up")
            await asyncio.sleep(0.005)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop serving; responses still running (a long stall) are cut off."""
        if self._server is None or self._task is None:
            return
        for reply in self._active:
            reply.stop()
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._task, 10)
        self._server = None
        self._task = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # scripting

    def enqueue(self, *scripts: Script) -> None:
        """Queue the answers to the next requests, first in first out."""
        self._scripts.extend(scripts)

    @property
    def pending(self) -> int:
        """Scripts queued and not yet consumed."""
        return len(self._scripts)

    def completion_requests(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    # the ASGI application

    async def _app(self, scope: AsgiMessage, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if not message.get("more_body", False):
                break
        method, path = scope["method"], scope["path"].rstrip("/")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                await _send_json(send, 400, _error_body(400, "request body is not JSON"))
                return
        self.requests.append(ReceivedRequest(method, path, headers, body, time.monotonic()))

        if method == "GET" and path == "/v1/models":
            models = [
                {"id": m, "object": "model", "created": 0, "owned_by": "scripted"}
                for m in self.models
            ]
            await _send_json(send, 200, {"object": "list", "data": models})
            return
        if method != "POST" or path != "/v1/chat/completions":
            await _send_json(send, 404, _error_body(404, f"no route for {method} {path}"))
            return
        if not isinstance(body, dict):
            await _send_json(send, 400, _error_body(400, "expected a JSON object"))
            return

        script = self._scripts.popleft() if self._scripts else self.default
        reply = _Reply(script, body, send)
        self._active.add(reply)
        watcher = asyncio.create_task(reply.watch(receive))
        try:
            if body.get("stream"):
                if not await reply.stream() and reply.client_gone:
                    self.disconnects += 1
            else:
                await reply.whole()
        finally:
            self._active.discard(reply)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


class _Reply:
    """One response being played from its script."""

    def __init__(self, script: Script, request: dict[str, Any], send: Send) -> None:
        self.script = script
        self.request = request
        self.client_gone = False
        self._send = send
        self._interrupted = asyncio.Event()
        self._stopping = False
        self._started = False
        self._role_sent = False
        self._pieces = 0
        self._usage: Usage | None = None
        self._id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self._created = int(time.time())
        self._model = str(request.get("model") or "scripted")
        options = request.get("stream_options") or {}
        self._include_usage = isinstance(options, dict) and bool(options.get("include_usage"))

    async def watch(self, receive: Receive) -> None:
        # The request body is fully read, so the next receive() only returns on a disconnect.
        while (await receive())["type"] != "http.disconnect":
            pass
        self.client_gone = True
        self._interrupted.set()

    def stop(self) -> None:
        self._stopping = True
        self._interrupted.set()

    async def _pause(self, seconds: float) -> bool:
        """Wait ``seconds``; False when the client left meanwhile."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._interrupted.wait()
        if self._stopping:
            raise _Dropped("server stopping")
        return not self.client_gone

    # streaming

    async def stream(self) -> bool:
        """Play the script as server-sent events; False if the client left before the end."""
        calls = 0
        for step in self.script.steps:
            if isinstance(step, Stall):
                if not await self._pause(step.seconds):
                    return False
            elif isinstance(step, Text):
                if not await self._pause(step.delay) or not await self._delta(content=step.text):
                    return False
                self._pieces += 1
            elif isinstance(step, ToolCallStep):
                if not await self._pause(step.delay) or not await self._tool_call(step, calls):
                    return False
                calls += 1
            elif isinstance(step, Usage):
                self._usage = step
            elif isinstance(step, HttpError):
                if not self._started:
                    await _send_error(self._send, step)
                    return True
                error = step.body or _error_body(step.status, "scripted mid-stream error")
                if not await self._event(error):
                    return False
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})
                return True
            else:
                await self._open()
                raise _Dropped("scripted drop")
        finish = self.script.finish_reason or ("tool_calls" if calls else "stop")
        if not await self._delta(finish_reason=finish):
            return False
        wants_usage = self._usage is not None and self._include_usage
        if wants_usage and not await self._event(self._chunk([], usage=self._usage_json())):
            return False
        if not await self._write(b"data: [DONE]\n\n"):
            return False
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})
        return True

    async def _tool_call(self, step: ToolCallStep, index: int) -> bool:
        head = {
            "index": index,
            "id": step.id or f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": step.name, "arguments": ""},
        }
        if not await self._delta(tool_calls=[head]):
            return False
        for piece in _pieces(step.arguments, step.piece_chars):
            if not await self._delta(
                tool_calls=[{"index": index, "function": {"arguments": piece}}]
            ):
                return False
            self._pieces += 1
        return True

    async def _delta(self, finish_reason: str | None = None, **delta: Any) -> bool:
        if not self._role_sent:
            # OpenAI opens every stream with a chunk that carries only the role.
            self._role_sent = True
            role = {"role": "assistant", "content": "" if not delta.get("tool_calls") else None}
            if not await self._event(self._chunk([self._choice(role)])):
                return False
        return await self._event(self._chunk([self._choice(delta, finish_reason)]))

    def _choice(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    def _chunk(self, choices: list[dict[str, Any]], usage: Any = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": "fp_scripted",
            "choices": choices,
        }
        if self._include_usage:
            chunk["usage"] = usage
        return chunk

    async def _event(self, payload: dict[str, Any]) -> bool:
        return await self._write(b"data: " + json.dumps(payload).encode() + b"\n\n")

    async def _open(self) -> None:
        if not self._started:
            self._started = True
            headers = [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"),
            ]
            await self._send({"type": "http.response.start", "status": 200, "headers": headers})

    async def _write(self, data: bytes) -> bool:
        if not await self._pause(0):
            return False
        await self._open()
        await self._send({"type": "http.response.body", "body": data, "more_body": True})
        return not self.client_gone

    # one JSON answer

    async def whole(self) -> None:
        text: list[str] = []
        calls: list[dict[str, Any]] = []
        for step in self.script.steps:
            if isinstance(step, Stall):
                if not await self._pause(step.seconds):
                    return
            elif isinstance(step, Text):
                if not await self._pause(step.delay):
                    return
                text.append(step.text)
                self._pieces += 1
            elif isinstance(step, ToolCallStep):
                if not await self._pause(step.delay):
                    return
                call_id = step.id or f"call_{uuid.uuid4().hex[:24]}"
                function = {"name": step.name, "arguments": step.arguments}
                calls.append({"id": call_id, "type": "function", "function": function})
                self._pieces += len(_pieces(step.arguments, step.piece_chars))
            elif isinstance(step, Usage):
                self._usage = step
            elif isinstance(step, HttpError):
                await _send_error(self._send, step)
                return
            else:
                # Promise more bytes than will ever come, then hang up.
                headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
                await self._send({"type": "http.response.start", "status": 200, "headers": headers})
                body = json.dumps({"id": self._id, "object": "chat.completion"})[:20].encode()
                await self._send({"type": "http.response.body", "body": body, "more_body": True})
                raise _Dropped("scripted drop")
        message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
        if calls:
            message["tool_calls"] = calls
        finish = self.script.finish_reason or ("tool_calls" if calls else "stop")
        payload = {
            "id": self._id,
            "object": "chat.completion",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": "fp_scripted",
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": self._usage_json(),
        }
        await _send_json(self._send, 200, payload)

    def _usage_json(self) -> dict[str, int]:
        usage = self._usage or Usage()
        prompt = usage.prompt_tokens
        if prompt is None:
            prompt = sum(
                len(split_tokens(m["content"]))
                for m in self.request.get("messages") or []
                if isinstance(m, dict) and isinstance(m.get("content"), str)
            )
        completion = self._pieces if usage.completion_tokens is None else usage.completion_tokens
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


_ERROR_KINDS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind, code = _ERROR_KINDS.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


async def _send_error(send: Send, step: HttpError) -> None:
    headers = []
    if step.retry_after is not None:
        headers.append((b"retry-after", str(step.retry_after).encode("latin-1")))
    body = step.body or _error_body(step.status, f"scripted error {step.status}")
    await _send_json(send, step.status, body, headers)


async def _send_json(
    send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(payload).encode()
    all_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": data, "more_body": False})

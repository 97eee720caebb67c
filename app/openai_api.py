"""The OpenAI-compatible API: `POST /v1/chat/completions` (plain and streamed) and `GET /v1/models`.

Clients that speak the OpenAI chat API (Open WebUI, LibreChat, every OpenAI SDK) ask newsqa as
if it were a model called `newsqa`. The last user message is the question, earlier user messages
are the conversation; the reply's content is the answer with its [n] marks and its date, and the
response carries the Answer's `citations` (the Citation JSON `newsqa ask --json` prints).

Everything above `api_router` is plain Python (request parsing, response shapes, SSE framing,
error bodies, the key check), so tests reach it without a server. Only `newsqa serve` imports
this module (the CLI's other commands never load FastAPI).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from ingest.store import StoreError

from .errors import BackendError, NewsQAError, NothingIndexed
from .models import Answer
from .ui import message_text

MODEL_ID = "newsqa"
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
MAX_BODY_BYTES = 1024 * 1024  # a question and its conversation; far more is a mistake or an attack
# At most this many API questions are worked on at once (the chat page's queue runs 4 as well);
# the others wait their turn, so 20 at once on 2 cores queue instead of thrashing.
API_CONCURRENCY = 4

log = logging.getLogger("newsqa.api")


class APIError(Exception):
    """A request newsqa refuses, as an HTTP status and an OpenAI-style error body."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """The OpenAI API's error shape: {"error": {"message", "type", "param", "code"}}."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def from_exception(e: BaseException) -> APIError:
    """newsqa's user-facing errors as API errors; anything else is a generic 500 (details stay in the log).

    Args:
        e: the exception raised while answering.

    Returns:
        An APIError whose message is the error's own (it says what to do) for newsqa's errors.
    """
    if isinstance(e, APIError):
        return e
    if isinstance(e, NothingIndexed):
        return APIError(503, str(e), "server_error", None, "nothing_indexed")
    if isinstance(e, StoreError):
        return APIError(503, str(e), "server_error", None, "index_unavailable")
    if isinstance(e, BackendError):
        return APIError(502, str(e), "server_error", None, "model_server_error")
    if isinstance(e, NewsQAError):  # the rest of the family: something the caller can fix
        return APIError(400, str(e), "invalid_request_error", None, None)
    return APIError(500, "The server had an error while answering; the details are in the newsqa server log.",
                    "server_error", None, None)


# --- requests ---------------------------------------------------------------------------------


@dataclass
class ChatRequest:
    """What newsqa takes from a chat completion request."""

    question: str
    history: list[str] = field(default_factory=list)  # earlier user messages, oldest first
    stream: bool = False
    include_usage: bool = False  # stream_options.include_usage: a last chunk with `usage`
    # newsqa's own extras (the openai client's `extra_body`): the same limits `newsqa ask` takes.
    date_from: str | None = None
    date_to: str | None = None
    sources: list[str] | None = None
    today: str | None = None
    mode: str | None = None

    def ask_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for NewsQA.stream / NewsQA.ask."""
        return {"history": self.history, "date_from": self.date_from, "date_to": self.date_to,
                "sources": self.sources, "today": self.today, "mode": self.mode}


def _refuse(message: str, param: str, code: str | None = "unsupported_parameter") -> APIError:
    return APIError(400, message, "invalid_request_error", param, code)


def _text_of(message: dict[str, Any], i: int) -> str:
    content = message.get("content")
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise _refuse("A message's content must be a string or a list of content parts.", f"messages[{i}].content", None)
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type", "text") != "text" or not isinstance(part.get("text", ""), str):
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise _refuse(f"newsqa reads text only; content part of type {kind!r} is not supported.",
                          f"messages[{i}].content[{j}]")
    return message_text(message)


def _optional_day(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise _refuse(f"{name} must be a date like 2017-09-15 (YYYY-MM-DD), not {value!r}.", name, None) from None


def parse_chat_request(body: Any) -> ChatRequest:
    """Read a chat completion request, refusing what newsqa cannot honour.

    Sampling settings (temperature, top_p, max_tokens, stop, seed, penalties, user, ...) are
    ignored: answers are quoted or checked sentences, not samples. Several choices, log
    probabilities, forced tool calls and JSON output are refused.

    Args:
        body: the decoded JSON body.

    Returns:
        The question, the conversation before it, and the options.

    Raises:
        APIError: 400 for a malformed or unsupported request, 404 for an unknown model.
    """
    if not isinstance(body, dict):
        raise APIError(400, "The request body must be a JSON object.", param=None)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise APIError(400, f"You must provide a model parameter (newsqa serves the model {MODEL_ID!r}).", param="model")
    if model != MODEL_ID:
        raise APIError(404, f"The model {model!r} does not exist; newsqa serves the model {MODEL_ID!r}.",
                       param="model", code="model_not_found")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "messages must be a non-empty list of {role, content} objects.", param="messages")
    user_texts: list[str] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise APIError(400, f"messages[{i}] must be an object with a role ({', '.join(sorted(ROLES))}).",
                           param=f"messages[{i}]")
        text = _text_of(m, i)
        if m["role"] == "user":
            user_texts.append(text)
    if not user_texts:
        raise APIError(400, "There is no user message: the last user message is the question.", param="messages")
    question = user_texts[-1]
    if not question.strip():
        raise APIError(400, "The last user message is empty: it is the question.", param="messages")

    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise APIError(400, "stream must be true or false.", param="stream")
    n = body.get("n")
    if n is not None and n != 1:
        raise _refuse("newsqa gives one answer per question: n must be 1.", "n")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise _refuse("newsqa does not give log probabilities: its answers are checked sentences.", "logprobs")
    fmt = body.get("response_format")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type", "text") != "text"):
        raise _refuse("newsqa answers in text only; response_format must be {\"type\": \"text\"}.", "response_format")
    choice = body.get("tool_choice")
    if choice is not None and choice not in ("auto", "none"):
        raise _refuse("newsqa does not call tools; tool_choice may only be \"auto\" or \"none\".", "tool_choice")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise APIError(400, "stream_options must be an object.", param="stream_options")

    sources = body.get("sources")
    if sources is not None and (not isinstance(sources, list) or not all(isinstance(s, str) for s in sources)):
        raise APIError(400, "sources must be a list of outlet names.", param="sources")
    mode = body.get("mode")
    if mode is not None and mode not in ("extractive", "generative"):
        raise APIError(400, "mode must be \"extractive\" or \"generative\".", param="mode")
    return ChatRequest(
        question=question,
        history=[t for t in user_texts[:-1] if t.strip()],
        stream=bool(stream),
        include_usage=bool(options.get("include_usage")),
        date_from=_optional_day(body, "date_from"),
        date_to=_optional_day(body, "date_to"),
        sources=list(sources) if sources else None,
        today=_optional_day(body, "today"),
        mode=mode,
    )


def bearer_ok(authorization: str | None, api_key: str | None) -> bool:
    """Whether an `Authorization` header carries the key (always true when no key is set).

    The comparison takes the same time however much of the key is right.
    """
    if not api_key:
        return True
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode("utf-8"), api_key.encode("utf-8"))


# --- responses --------------------------------------------------------------------------------


def reply_suffix(answer: Answer) -> str:
    """What follows the answer's text in the reply: its "as of" date and any warnings."""
    parts = [f"({answer.as_of_text})"] if not answer.abstained else []
    parts += [f"Note: {w}" for w in answer.warnings]
    return "".join(f"\n\n{p}" for p in parts)


def reply_content(answer: Answer) -> str:
    """The reply's content: the answer with its [n] marks, its date and its warnings."""
    return answer.text + reply_suffix(answer)


def citations_json(answer: Answer) -> list[dict[str, Any]]:
    """The Citation JSON the CLI prints (`newsqa ask --json`), one object per [n]."""
    return [dataclasses.asdict(c) for c in answer.citations]


def answer_facts(answer: Answer) -> dict[str, Any]:
    """newsqa's own facts about the answer, for clients that know them."""
    return {"abstained": answer.abstained, "as_of": answer.as_of, "mode": answer.mode, "warnings": list(answer.warnings)}


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _usage(question: str, content: str) -> dict[str, int]:
    # newsqa has no tokenizer of its own for extractive answers: words stand in for tokens.
    p, c = len(question.split()), len(content.split())
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def completion_body(answer: Answer, cid: str, created: int, question: str = "") -> dict[str, Any]:
    """A `chat.completion` object for a whole answer, with its citations.

    Args:
        answer: the Answer.
        cid: the completion id.
        created: Unix time of the request.
        question: the question (only for the word counts in `usage`).
    """
    content = reply_content(answer)
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": MODEL_ID,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": _usage(question or answer.question, content),
        "citations": citations_json(answer),
        "newsqa": answer_facts(answer),
    }


def chunk_body(cid: str, created: int, delta: dict[str, Any], finish_reason: str | None = None,
               **extra: Any) -> dict[str, Any]:
    """A `chat.completion.chunk` object (one piece of a streamed reply)."""
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL_ID,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        **extra,
    }


def sse(data: dict[str, Any]) -> str:
    """One server-sent event as the OpenAI API frames it."""
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


SSE_DONE = "data: [DONE]\n\n"


def stream_events(items: Iterator[str | Answer], request: ChatRequest, cid: str, created: int) -> Iterator[str]:
    """The SSE events of a streamed reply, from NewsQA.stream's pieces.

    The first chunk carries the role, each checked piece of text follows as it comes, then the
    date and warnings; the last chunk has `finish_reason` "stop" and the `citations`. An error
    after the first event is sent as an `error` event (as the OpenAI API does), then [DONE].
    """
    yield sse(chunk_body(cid, created, {"role": "assistant", "content": ""}))
    shown = ""
    try:
        for item in items:
            if isinstance(item, Answer):
                # The pieces are the answer's text; should they ever differ, the rest still reaches the reader.
                rest = item.text[len(shown):] if item.text.startswith(shown) else ("\n\n" + item.text if shown else item.text)
                tail = rest + reply_suffix(item)
                if tail:
                    yield sse(chunk_body(cid, created, {"content": tail}))
                yield sse(chunk_body(cid, created, {}, "stop", citations=citations_json(item), newsqa=answer_facts(item)))
                if request.include_usage:
                    usage = _usage(request.question, reply_content(item))
                    yield sse({**chunk_body(cid, created, {}), "choices": [], "usage": usage})
                break
            if item:
                shown += item
                yield sse(chunk_body(cid, created, {"content": item}))
    except Exception as e:
        err = from_exception(e)
        if err.status >= 500 and err.code is None:
            log.exception("error while streaming an answer")
        yield sse(err.body())
    yield SSE_DONE


def error_headers(err: APIError) -> dict[str, str]:
    """Headers for an error response: how to authenticate, and whether retrying can help."""
    if err.status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if err.code == "nothing_indexed":
        return {"x-should-retry": "false"}  # the OpenAI SDKs' own hint: asking again changes nothing
    return {}


def models_body(created: int = 0) -> dict[str, Any]:
    """GET /v1/models: the one model newsqa serves."""
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": created, "owned_by": "newsqa"}]}


# --- the routes -------------------------------------------------------------------------------


def api_router(qa: Any, api_key: str | None = None) -> Any:
    """The /v1 routes as a FastAPI APIRouter, answering with `qa`.

    Args:
        qa: the NewsQA to ask.
        api_key: when set, every /v1 request must carry `Authorization: Bearer <api_key>`.

    Returns:
        A fastapi.APIRouter to include in the app that also serves the chat page.
    """
    router = APIRouter()
    limiter = anyio.CapacityLimiter(API_CONCURRENCY)
    started = int(time.time())

    def failure(err: APIError) -> JSONResponse:
        return JSONResponse(err.body(), status_code=err.status, headers=error_headers(err))

    def authorize(request: Request) -> None:
        if not bearer_ok(request.headers.get("authorization"), api_key):
            raise APIError(401, "Incorrect or missing API key: send the header `Authorization: Bearer <NEWSQA_API_KEY>`.",
                           "invalid_request_error", None, "invalid_api_key")

    async def next_item(items: Iterator[str | Answer]) -> str | Answer | None:
        # NewsQA blocks (embedding, search, the model): each step runs in a worker thread.
        return await anyio.to_thread.run_sync(next, items, None, limiter=limiter)

    @router.get("/v1/models")
    async def list_models(request: Request) -> Any:
        try:
            authorize(request)
        except APIError as e:
            return failure(e)
        return models_body(started)

    @router.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        try:
            authorize(request)
            raw = await request.body()
            if len(raw) > MAX_BODY_BYTES:
                raise APIError(413, f"The request is larger than {MAX_BODY_BYTES // 1024} KB.", param="messages")
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as e:
                raise APIError(400, f"The request body is not valid JSON: {e}.") from None
            req = parse_chat_request(body)
            cid, created = completion_id(), int(time.time())
            items = qa.stream(req.question, **req.ask_kwargs())
            # The first step does the retrieval: its errors (nothing indexed, a bad filter, a lost
            # index) still get a proper status, before the stream has started.
            first = await next_item(items)
            if req.stream:
                async def events() -> Any:
                    head = [] if first is None else [first]
                    pieces = _chain(head, items)
                    gen = stream_events(pieces, req, cid, created)
                    while True:
                        event = await anyio.to_thread.run_sync(next, gen, None, limiter=limiter)
                        if event is None:
                            return
                        yield event

                return StreamingResponse(events(), media_type="text/event-stream",
                                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            answer = first
            while not isinstance(answer, Answer):
                answer = await next_item(items)
                if answer is None:
                    raise RuntimeError("NewsQA.stream ended without an Answer")
            return completion_body(answer, cid, created, req.question)
        except Exception as e:
            err = from_exception(e)
            if err.status >= 500 and err.code is None:
                log.exception("error while answering %s %s", request.method, request.url.path)
            return failure(err)

    @router.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown(request: Request, rest: str) -> Any:
        try:
            authorize(request)
        except APIError as e:
            return failure(e)
        return failure(APIError(404, f"newsqa does not serve {request.method} /v1/{rest}; it serves "
                                     "POST /v1/chat/completions and GET /v1/models.", code="unknown_url"))

    return router


def _chain(head: list[str | Answer], rest: Iterator[str | Answer]) -> Iterator[str | Answer]:
    yield from head
    yield from rest

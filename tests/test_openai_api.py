"""The OpenAI-compatible API of `newsqa serve`.

First the pure parts of app/openai_api.py (request parsing, response shapes, SSE framing, the
key check); then the official `openai` client against real `newsqa serve` processes on
127.0.0.1: one over seeds/ with an API key and a page login, one over an empty index. Each
server starts once for the module.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from app import Answer, Citation, NewsQAError, NothingIndexed
from app.answer import ABSTAIN_TEXT
from app.backends import BackendError
from app.openai_api import (
    MODEL_ID,
    SSE_DONE,
    APIError,
    ChatRequest,
    bearer_ok,
    completion_body,
    from_exception,
    models_body,
    parse_chat_request,
    reply_content,
    stream_events,
)
from ingest.store import StoreError

from .conftest import ROOT, SEED_FILE, SEEDS
from .test_servers import ServerProcess, _clean_env, free_port

SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")
QUESTION = "Who controls Deir Ezzor?"
SEED_ANSWER = "less than half the city"
KEY = "test-key-0123456789"
USER, PASSWORD = "reader", "page-secret"


def user(text: str) -> dict:
    return {"role": "user", "content": text}


# --- requests ---------------------------------------------------------------------------------


def test_the_last_user_message_is_the_question_and_earlier_ones_the_conversation():
    req = parse_chat_request({
        "model": "newsqa",
        "messages": [
            {"role": "system", "content": "You are helpful."},
            user("Who controls Deir Ezzor?"),
            {"role": "assistant", "content": "The militants control less than half the city [1]."},
            {"role": "user", "content": [{"type": "text", "text": "And who is"}, {"type": "text", "text": "advancing?"}]},
        ],
        # Sampling settings are ignored: answers are quoted or checked sentences.
        "temperature": 0.2, "max_tokens": 50, "top_p": 0.9, "stop": ["\n"], "seed": 1, "user": "u1", "tools": [],
    })
    assert req.question == "And who is advancing?"
    assert req.history == ["Who controls Deir Ezzor?"]
    assert not req.stream and not req.include_usage
    assert req.ask_kwargs() == {"history": ["Who controls Deir Ezzor?"], "date_from": None, "date_to": None,
                                "sources": None, "today": None, "mode": None}


def test_newsqa_options_ride_along_as_extra_fields():
    req = parse_chat_request({
        "model": "newsqa", "messages": [user("q?")], "stream": True, "stream_options": {"include_usage": True},
        "date_from": "2017-09-01", "date_to": "2017-09-30", "sources": ["Desert Herald"], "today": "2017-10-01",
        "mode": "generative",
    })
    assert (req.stream, req.include_usage, req.date_from, req.date_to, req.sources, req.today, req.mode) == (
        True, True, "2017-09-01", "2017-09-30", ["Desert Herald"], "2017-10-01", "generative")


@pytest.mark.parametrize(
    ("body", "status", "param", "words"),
    [
        ([1, 2], 400, None, "JSON object"),
        ({"messages": [user("q")]}, 400, "model", "model parameter"),
        ({"model": "gpt-4o", "messages": [user("q")]}, 404, "model", "does not exist"),
        ({"model": "newsqa"}, 400, "messages", "non-empty list"),
        ({"model": "newsqa", "messages": []}, 400, "messages", "non-empty list"),
        ({"model": "newsqa", "messages": ["hi"]}, 400, "messages[0]", "role"),
        ({"model": "newsqa", "messages": [{"role": "wizard", "content": "q"}]}, 400, "messages[0]", "role"),
        ({"model": "newsqa", "messages": [{"role": "system", "content": "x"}]}, 400, "messages", "no user message"),
        ({"model": "newsqa", "messages": [user("  ")]}, 400, "messages", "empty"),
        ({"model": "newsqa", "messages": [{"role": "user", "content": 3}]}, 400, "messages[0].content", "string"),
        ({"model": "newsqa", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
         400, "messages[0].content[0]", "text only"),
        ({"model": "newsqa", "messages": [user("q")], "stream": "yes"}, 400, "stream", "true or false"),
        ({"model": "newsqa", "messages": [user("q")], "n": 3}, 400, "n", "n must be 1"),
        ({"model": "newsqa", "messages": [user("q")], "logprobs": True}, 400, "logprobs", "log probabilities"),
        ({"model": "newsqa", "messages": [user("q")], "response_format": {"type": "json_object"}}, 400, "response_format", "text only"),
        ({"model": "newsqa", "messages": [user("q")], "tool_choice": "required"}, 400, "tool_choice", "does not call tools"),
        ({"model": "newsqa", "messages": [user("q")], "date_from": "15/09/2017"}, 400, "date_from", "YYYY-MM-DD"),
        ({"model": "newsqa", "messages": [user("q")], "sources": "Reuters"}, 400, "sources", "list"),
        ({"model": "newsqa", "messages": [user("q")], "mode": "creative"}, 400, "mode", "extractive"),
    ],
)
def test_malformed_or_unsupported_requests_are_refused_with_a_reason(body, status, param, words):
    with pytest.raises(APIError) as info:
        parse_chat_request(body)
    e = info.value
    assert (e.status, e.param) == (status, param) and words in e.message
    assert set(e.body()["error"]) == {"message", "type", "param", "code"}


def test_the_key_check():
    assert bearer_ok(None, None) and bearer_ok("Bearer anything", "")  # no key set: the API is open
    assert bearer_ok(f"Bearer {KEY}", KEY) and bearer_ok(f"bearer  {KEY} ", KEY)
    for header in (None, "", KEY, f"Basic {KEY}", "Bearer", f"Bearer {KEY}x", f"Bearer {KEY[:-1]}", "Bearer wrong"):
        assert not bearer_ok(header, KEY), header


def test_errors_map_to_openai_statuses_and_never_leak_internals():
    cases = [
        (NothingIndexed("No articles are indexed yet: add some"), 503, "nothing_indexed"),
        (NewsQAError("The From date must look like 2017-09-15"), 400, None),
        (StoreError("Lost the Chroma server at http://x"), 503, "index_unavailable"),
        (BackendError("Cannot reach the model server"), 502, "model_server_error"),
    ]
    for exc, status, code in cases:
        e = from_exception(exc)
        assert (e.status, e.code, e.message) == (status, code, str(exc))
    generic = from_exception(KeyError("secret internal detail"))
    assert generic.status == 500 and "secret" not in generic.message and "server log" in generic.message


# --- responses --------------------------------------------------------------------------------


def _answer(**kw) -> Answer:
    c = Citation(n=1, article_id="a1", title="Siege lifted", source="Desert Herald", date="2017-09-15",
                 url="https://example.org/a1", quote="The militants control less than half the city.", start=10, end=57)
    return Answer(question=QUESTION, text="The militants control less than half the city [1].", citations=[c],
                  as_of="2017-09-15", **kw)


def test_a_completion_is_what_the_openai_client_reads_plus_citations():
    a = _answer(warnings=["The language model could not answer."])
    body = completion_body(a, "chatcmpl-1", 123, QUESTION)
    parsed = ChatCompletion.model_validate(body)  # the openai package's own type
    assert parsed.model == MODEL_ID and parsed.choices[0].finish_reason == "stop"
    assert parsed.choices[0].message.content == (
        "The militants control less than half the city [1].\n\n(As of 2017-09-15)\n\n"
        "Note: The language model could not answer."
    )
    assert body["citations"] == [json.loads(json.dumps(a.to_dict()["citations"][0]))]
    assert body["newsqa"] == {"abstained": False, "as_of": "2017-09-15", "mode": "extractive",
                              "warnings": ["The language model could not answer."]}
    # An abstention is a normal reply: what was searched, no date line, no citations.
    no = Answer(question="q", text=f"{ABSTAIN_TEXT} I searched 1 article.", abstained=True)
    assert reply_content(no) == no.text
    assert completion_body(no, "c", 1)["citations"] == []


def _events(items: Iterator, req: ChatRequest | None = None) -> list[str]:
    return list(stream_events(items, req or ChatRequest(question=QUESTION), "chatcmpl-2", 7))


def test_streamed_events_are_sse_chunks_ending_with_done():
    a = _answer()
    events = _events(iter(["The militants control ", "less than half the city [1].", a]),
                     ChatRequest(question=QUESTION, stream=True, include_usage=True))
    assert events[-1] == SSE_DONE and all(e.startswith("data: ") and e.endswith("\n\n") for e in events)
    chunks = [ChatCompletionChunk.model_validate(json.loads(e[6:])) for e in events[:-1]]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == reply_content(a)
    last = [c for c in chunks if c.choices][-1]
    assert last.choices[0].finish_reason == "stop" and last.model_extra["citations"][0]["quote"] == a.citations[0].quote
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_an_error_mid_stream_is_an_error_event_then_done():
    def items():
        yield "The militants "
        raise BackendError("The model server stopped in the middle of an answer.")

    events = _events(items())
    assert json.loads(events[-2][6:]) == {"error": {"message": "The model server stopped in the middle of an answer.",
                                                    "type": "server_error", "param": None, "code": "model_server_error"}}
    assert events[-1] == SSE_DONE

    def broken():
        raise ZeroDivisionError("internal")
        yield ""

    events = _events(broken())
    assert "internal" not in events[-2] and "server log" in events[-2]


def test_models_lists_newsqa_only():
    assert [m["id"] for m in models_body()["data"]] == ["newsqa"]


# --- real servers -----------------------------------------------------------------------------


def _serve(name: str, data: Path, seeds: Path, logs: Path, **env: str) -> ServerProcess:
    port = free_port()
    cmd = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--seeds", str(seeds)]
    # PYTHONPATH: this checkout's app/, whatever an editable install points at.
    environment = _clean_env(NEWSQA_DATA_DIR=str(data), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **env)
    return ServerProcess(name, cmd, f"http://127.0.0.1:{port}/", logs, environment)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Two `newsqa serve` processes, started together: seeds/ (API key and page login) and an empty index."""
    logs = tmp_path_factory.mktemp("api-logs")
    empty = tmp_path_factory.mktemp("no-seeds")
    procs = {
        "seeded": _serve("api-seeded", tmp_path_factory.mktemp("api-seeded"), SEEDS, logs,
                         NEWSQA_API_KEY=KEY, NEWSQA_AUTH=f"{USER}:{PASSWORD}"),
        "empty": _serve("api-empty", tmp_path_factory.mktemp("api-empty"), empty, logs),
    }
    try:
        for p in procs.values():
            p.start()
        for p in procs.values():
            p.wait_ready(240)
        yield {k: p.ready_url for k, p in procs.items()}
    finally:
        for p in procs.values():
            p.stop()


@pytest.fixture(scope="module")
def client(servers) -> openai.OpenAI:
    return openai.OpenAI(base_url=servers["seeded"] + "v1", api_key=KEY, max_retries=0, timeout=180)


def test_models_through_the_openai_client(client):
    assert [m.id for m in client.models.list()] == ["newsqa"]


def test_a_plain_answer_with_its_citations(client, seeded):
    r = client.chat.completions.create(model="newsqa", messages=[user(QUESTION)])
    content = r.choices[0].message.content
    assert SEED_ANSWER in content and "[2]" in content and r.choices[0].finish_reason == "stop"
    # The same answer the Python API gives, with its date line.
    expected = seeded.ask(QUESTION)
    assert content == reply_content(expected) and content.endswith("(Date of the sources unknown)")
    citations = r.model_extra["citations"]
    assert [Citation(**c) for c in citations] == expected.citations
    for c in citations:
        assert SEED_TEXT[c["start"] : c["end"]] == c["quote"]
    assert any(SEED_ANSWER in c["quote"] for c in citations)


def test_a_streamed_answer_is_the_plain_one_in_pieces(client):
    plain = client.chat.completions.create(model="newsqa", messages=[user(QUESTION)])
    chunks = list(client.chat.completions.create(model="newsqa", messages=[user(QUESTION)], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"] == plain.model_extra["citations"]
    assert len({c.id for c in chunks}) == 1


def test_earlier_user_messages_are_the_conversation(client, seeded):
    follow = "And who is advancing from the east?"
    r = client.chat.completions.create(model="newsqa", messages=[
        user(QUESTION), {"role": "assistant", "content": "The militants control less than half the city [1]."}, user(follow),
    ])
    assert r.choices[0].message.content == reply_content(seeded.ask(follow, history=[QUESTION]))


def test_an_abstention_is_a_normal_reply_that_says_what_was_searched(client):
    r = client.chat.completions.create(model="newsqa", messages=[user("What did Turkey say about the strikes?")])
    content = r.choices[0].message.content
    assert content.startswith(ABSTAIN_TEXT) and "I searched 1 article" in content
    assert r.model_extra["citations"] == [] and r.model_extra["newsqa"]["abstained"] is True


def test_a_wrong_or_missing_key_is_refused(servers):
    for key in ("wrong-key", KEY[:-1]):
        bad = openai.OpenAI(base_url=servers["seeded"] + "v1", api_key=key, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            bad.chat.completions.create(model="newsqa", messages=[user(QUESTION)])
        assert info.value.status_code == 401 and info.value.body["code"] == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
    request = urllib.request.Request(servers["seeded"] + "v1/models")  # no Authorization header at all
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 401 and json.loads(info.value.read())["error"]["code"] == "invalid_api_key"


def test_unsupported_parameters_and_malformed_bodies_get_openai_errors(client, servers):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="newsqa", messages=[user(QUESTION)], n=2)
    assert info.value.body["param"] == "n"
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4o", messages=[user(QUESTION)])
    assert info.value.body["code"] == "model_not_found"
    for raw in (b'{"model": "newsqa", "messages": [', b"\xff\xfe", b"[]"):
        request = urllib.request.Request(servers["seeded"] + "v1/chat/completions", data=raw, method="POST",
                                         headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=30)
        body = info.value.read().decode()
        assert info.value.code == 400 and set(json.loads(body)["error"]) == {"message", "type", "param", "code"}
        assert "Traceback" not in body


def test_the_page_keeps_its_own_login_and_ask_endpoint(servers):
    from gradio_client import Client

    # The page's Gradio config is behind the page login; the API above needed only its key.
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(servers["seeded"] + "config", timeout=30)
    assert info.value.code == 401
    answer = Client(servers["seeded"], auth=(USER, PASSWORD), verbose=False).predict(QUESTION, api_name="/ask")
    assert SEED_ANSWER in answer["text"]


def test_several_requests_at_once_all_answer(servers):
    results: list[str] = []

    def one(i: int) -> None:
        c = openai.OpenAI(base_url=servers["seeded"] + "v1", api_key=KEY, max_retries=0, timeout=180)
        try:
            if i % 2:
                chunks = c.chat.completions.create(model="newsqa", messages=[user(QUESTION)], stream=True)
                results.append("".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices))
            else:
                results.append(c.chat.completions.create(model="newsqa", messages=[user(QUESTION)]).choices[0].message.content)
        except Exception as e:
            results.append(f"error: {e!r}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(SEED_ANSWER in r for r in results), results


def test_nothing_indexed_is_a_clear_error_not_retried(servers):
    # No key is set on this server: the API is open.
    c = openai.OpenAI(base_url=servers["empty"] + "v1", api_key="anything", max_retries=2, timeout=60)
    assert [m.id for m in c.models.list()] == ["newsqa"]
    for stream in (False, True):
        t = time.monotonic()
        with pytest.raises(openai.APIStatusError) as info:
            r = c.chat.completions.create(model="newsqa", messages=[user(QUESTION)], stream=stream)
            list(r) if stream else r
        assert info.value.status_code == 503 and info.value.body["code"] == "nothing_indexed"
        assert "No articles are indexed yet" in info.value.body["message"] and "newsqa ingest" in info.value.body["message"]
        assert time.monotonic() - t < 10  # x-should-retry: false, so the client does not retry with backoff

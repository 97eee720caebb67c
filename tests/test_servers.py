"""newsqa beyond one process, against real servers on 127.0.0.1 that these fixtures start and stop.

- a Chroma server (`chroma run`, shipped with chromadb): the same answers as the embedded store,
  and writes from one process are seen by the others (vectors, article table, keyword index);
  asking while another process ingests cites only whole articles;
- two `newsqa serve` workers on that Chroma server, asked through their HTTP API;
- llama-cpp-python's OpenAI-compatible server with the bundled GGUF, reached through the
  `openai:` backend: answers, streams, a killed server gives a clear error (the chat answers from
  the sources and says why), and a restarted one works again in the same newsqa process;
- small HTTP servers of our own that misbehave the ways real ones do (garbage, 503, stalling).

Each server is started once per module; the whole file takes about a minute or two.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from app import Answer, NewsQA
from app.backends import BackendError, bundled_gguf, make_chat_model
from ingest.store import StoreError

from .conftest import SEED_FILE, SEEDS
from .test_reliability import (
    SEED_ANSWER,
    SEED_QUESTION,
    assert_all_or_nothing,
    assert_cites_whole_articles,
    audit,
    corpus_articles,
    run_child,
    write_jsonl,
)

BIN = Path(sys.executable).parent
SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")

FERRY = {
    "id": "port-vellan-ferry-2026",
    "title": "Port Vellan council votes to close the old ferry terminal",
    "source": "Harbour Gazette",
    "published_at": "2026-11-20",
    "url": "https://example.org/port-vellan-ferry",
    "text": (
        "The Port Vellan harbour council voted 7 to 2 on Tuesday to close the old ferry terminal at the end of March. "
        "Councillor Mara Ostby said the terminal's pier had been unsafe since the winter storms. "
        "A new terminal on the north quay is expected to open in 2028, the council said."
    ),
}
FERRY_Q = "How did the Port Vellan harbour council vote on the ferry terminal?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: no NEWSQA_* or OPENAI_* setting leaks in from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSQA_", "OPENAI_"))}
    env.update(extra)
    return env


class ServerProcess:
    """A server run as a child process, ready once `ready_url` answers 200; its output goes to a log."""

    def __init__(self, name: str, cmd: list[str], ready_url: str, log_dir: Path, env: dict[str, str] | None = None):
        self.name, self.cmd, self.ready_url, self.env = name, cmd, ready_url, env or _clean_env()
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServerProcess:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        log.close()
        return self

    def wait_ready(self, timeout: float = 180.0) -> ServerProcess:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.ready_url, timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} was not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no chance to close connections politely."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


# --- the Chroma server ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory, logs: Path) -> Iterator[ServerProcess]:
    """A real `chroma run` on a free port."""
    port = free_port()
    exe = BIN / "chroma"
    assert exe.exists(), f"chromadb's `chroma` command is missing next to {sys.executable}"
    path = tmp_path_factory.mktemp("chroma-server")
    server = ServerProcess(
        "chroma",
        [str(exe), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        f"http://127.0.0.1:{port}/api/v2/heartbeat",
        logs,
    )
    server.start().wait_ready(60)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chroma(chroma_server: ServerProcess) -> str:
    return chroma_server.ready_url.split("/api/")[0]


@pytest.fixture(scope="module")
def on_server(chroma: str, embedder, tmp_path_factory: pytest.TempPathFactory) -> NewsQA:
    """NewsQA over the Chroma server with seeds/ ingested (twice: the second run adds nothing)."""
    qa = NewsQA(tmp_path_factory.mktemp("unused-data-dir"), chroma_url=chroma, embedder=embedder)
    first = qa.ingest(SEEDS)
    assert (first.added, first.articles) == (1, 1)
    again = qa.ingest(SEEDS)
    assert (again.added, again.updated, again.unchanged, again.chunks_added) == (0, 0, 1, 0)
    return qa


@pytest.mark.parametrize("where", ["embedded", "server"])
def test_same_answers_from_the_embedded_store_and_the_server(where, request, seeded):
    qa = seeded if where == "embedded" else request.getfixturevalue("on_server")
    a = qa.ask("Who controls Deir Ezzor?")
    assert not a.abstained
    cited = [c for c in a.citations if "less than half the city" in c.quote]
    assert cited and cited[0].quote.startswith("The militants control less than half the city")
    for c in a.citations:
        assert SEED_TEXT[c.start : c.end] == c.quote
    no = qa.ask("What did Turkey say about the strikes?")
    assert no.abstained and not no.citations
    assert no.searched["articles"] == qa.stats()["articles"]
    # The stored records are the same: one article record, the same chunks with the same offsets.
    seed_id = next(i for i, m in seeded.store.all_articles().items() if m.get("n_chunks"))
    assert qa.store.all_articles()[seed_id]["n_chunks"] == seeded.store.all_articles()[seed_id]["n_chunks"]
    if where == "server":
        # The same answer as the embedded store gives, sentence for sentence.
        assert a.text == seeded.ask("Who controls Deir Ezzor?").text


def test_an_unreachable_chroma_server_is_a_clear_error(tmp_path, embedder):
    url = f"http://127.0.0.1:{free_port()}"
    t = time.monotonic()
    with pytest.raises(StoreError, match="Cannot reach the Chroma server at " + url):
        NewsQA(tmp_path, chroma_url=url, embedder=embedder)
    assert time.monotonic() - t < 30


def test_server_mode_takes_no_lock_on_the_data_dir(chroma, embedder, tmp_path):
    """Workers on one Chroma server may share a data dir: nothing of the index lives there."""
    a = NewsQA(tmp_path, chroma_url=chroma, embedder=embedder)
    b = NewsQA(tmp_path, chroma_url=chroma, embedder=embedder)
    assert a.stats()["articles"] == b.stats()["articles"] >= 1


def test_asking_while_another_process_ingests_sees_only_whole_articles(chroma, on_server, embedder, tmp_path):
    """This process asks through the Chroma server while a child process ingests into it: every
    answer, including those given from the half-ingested index, cites only whole articles.

    The in-process version (one process, two threads) is in tests/test_reliability.py; here the
    reader learns of the writes only from the server, so its keyword index and article records
    must follow another process's commits.
    """
    qa = NewsQA(tmp_path / "asker", chroma_url=chroma, embedder=embedder)
    before = {aid: qa.store.article_text(aid) for aid in qa.store.all_articles()}
    records = corpus_articles(20, seed=11)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", records)
    expected = {**before, **{r["id"]: r["text"] for r in records}}
    # The seed's question, and three about articles early, midway and last in the ingest.
    questions = [SEED_QUESTION] + [
        f"What did {records[i]['town']} council decide about the {records[i]['thing']} plan number {i}?" for i in (2, 10, 18)
    ]
    assert SEED_ANSWER in qa.ask(SEED_QUESTION).text  # its keyword index now predates the ingest

    outcome: dict[str, object] = {}

    def ingest() -> None:
        try:
            outcome["child"] = run_child(chroma, corpus, batch=4)  # one commit per few articles
        except BaseException as e:
            outcome["error"] = e

    writer = threading.Thread(target=ingest)
    writer.start()
    seen_counts: list[int] = []
    try:
        # Asking flat-out while the child loads its model doubles its start-up on 2 cores; the
        # answers that matter are those given between its first commit and its last.
        while writer.is_alive() and qa.store.counts()[0] == len(before):
            time.sleep(0.2)
        # Until every article is in: later answers are the finished index's, checked below.
        while writer.is_alive() and (not seen_counts or seen_counts[-1] < len(expected)):
            for q in questions:
                seen_counts.append(qa.store.counts()[0])
                answer = qa.ask(q)
                if q == SEED_QUESTION:
                    assert SEED_ANSWER in answer.text
                assert_cites_whole_articles(qa.store, answer, expected)
        writer.join()
        assert "error" not in outcome, outcome["error"]
        code, lines = outcome["child"]
        assert code == 0 and lines[-1] == f"finished {len(records)} 0 0", lines[-3:]
        # Some answers came from a partly written index, or this test showed nothing.
        assert any(len(before) < n < len(expected) for n in seen_counts), seen_counts
        state = audit(chroma)
        assert state["problems"] == [] and set(state["articles"]) == set(expected)
        assert_all_or_nothing(state, expected)
        last = records[18]
        after = qa.ask(questions[-1])
        assert any(c.article_id == last["id"] for c in after.citations), after.text
    finally:
        writer.join()
        # The module's server is shared: leave it holding what the other tests expect.
        for r in records:
            on_server.store.delete_article(r["id"])


def test_workers_catch_up_with_concurrent_writers_by_what_they_wrote(chroma, on_server, embedder, tmp_path):
    """Two readers on the Chroma server (each with its own client and keyword index, as two
    workers have) follow two processes that ingest into it at the same time: each catches up
    by re-reading only the articles written (the store's change log), never the whole store,
    and ends with the index a full rebuild gives, scores and rankings alike."""
    from ingest.keyword import KeywordIndex
    from ingest.store import Store

    from .test_keyword import assert_same_index

    readers = [(Store(embedder, url=chroma), KeywordIndex()) for _ in range(2)]
    for store, keyword in readers:
        keyword.sync(store)
    corpora = []
    for w, seed in (("w1", 21), ("w2", 22)):
        records = corpus_articles(10, seed=seed)
        for r in records:
            r["id"] = f"{w}-{r['id']}"
        corpora.append((records, write_jsonl(tmp_path / f"{w}.jsonl", records)))
    outcome: dict[int, object] = {}

    def ingest(i: int) -> None:
        try:
            outcome[i] = run_child(chroma, corpora[i][1], batch=4)
        except BaseException as e:
            outcome[i] = e

    writers = [threading.Thread(target=ingest, args=(i,)) for i in range(2)]
    for t in writers:
        t.start()
    try:
        syncs = 0
        while any(t.is_alive() for t in writers):
            for store, keyword in readers:
                keyword.sync(store)
                syncs += 1
            time.sleep(0.5)
        for i in range(2):
            assert not isinstance(outcome[i], BaseException), outcome[i]
            code, lines = outcome[i]
            assert code == 0 and lines[-1].startswith("finished"), lines[-3:]
        on_server.store.delete_article(corpora[0][0][0]["id"])  # and a removal, from a third process's store
        written = {a for a in on_server.store.all_articles() if a.startswith(("w1-", "w2-"))}
        assert len(written) == 19  # every article of both ingests, less the one removed
        for store, keyword in readers:
            keyword.sync(store)
            assert keyword.full_reads == 1, "a reader read the whole store to catch up"
            assert keyword.stamp == store.stamp()
            indexed = {keyword.get(c)[1]["article_id"] for c in keyword._docs}
            assert written <= indexed and corpora[0][0][0]["id"] not in indexed
            rebuilt = KeywordIndex()
            rebuilt.sync(store)
            assert_same_index(keyword, rebuilt, store)
        assert_same_index(readers[0][1], readers[1][1])
        assert syncs > 2
    finally:
        for t in writers:
            t.join()
        for records, _ in corpora:  # the module's server is shared: leave it as the other tests expect
            for r in records:
                on_server.store.delete_article(r["id"])


# --- two `newsqa serve` workers on one Chroma server ------------------------------------------


def _ask_worker(url: str, question: str) -> dict:
    from gradio_client import Client

    return Client(url, verbose=False).predict(question, api_name="/ask")


@pytest.fixture(scope="module")
def workers(chroma: str, on_server: NewsQA, tmp_path_factory: pytest.TempPathFactory, logs: Path) -> Iterator[list[str]]:
    """Two `newsqa serve` processes on different ports, both on the module's Chroma server."""
    exe = BIN / "newsqa"
    empty = tmp_path_factory.mktemp("no-seeds")
    servers = []
    for i in (1, 2):
        port = free_port()
        env = _clean_env(NEWSQA_DATA_DIR=str(tmp_path_factory.mktemp(f"worker{i}")), NEWSQA_CHROMA_URL=chroma)
        cmd = [str(exe), "serve", "--port", str(port), "--seeds", str(empty)]
        servers.append(ServerProcess(f"worker{i}", cmd, f"http://127.0.0.1:{port}/", logs, env).start())
    try:
        for s in servers:  # started together, so their imports overlap
            s.wait_ready(240)
        yield [s.ready_url for s in servers]
    finally:
        for s in servers:
            s.stop()


def test_an_article_ingested_once_is_answerable_through_every_worker(workers, chroma, on_server, tmp_path):
    w1, w2 = workers
    # Both workers have answered before the write, so each holds a keyword index built earlier.
    for w in workers:
        before = _ask_worker(w, FERRY_Q)
        assert before["abstained"], before["text"]
    assert "less than half the city" in _ask_worker(w2, "Who controls Deir Ezzor?")["text"]

    feed = tmp_path / "ferry.jsonl"
    feed.write_text(json.dumps(FERRY) + "\n", encoding="utf-8")
    r = subprocess.run(
        [str(BIN / "newsqa"), "ingest", "--chroma-url", chroma, "--json", str(feed)],
        env=_clean_env(NEWSQA_DATA_DIR=str(tmp_path / "cli")), capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["added"] == 1

    for w in (w1, w2, w1):
        after = _ask_worker(w, FERRY_Q)
        assert not after["abstained"], after["text"]
        assert "7 to 2" in after["text"]
        ferry = [c for c in after["citations"] if c["article_id"] == FERRY["id"]]
        assert ferry and ferry[0]["source"] == "Harbour Gazette" and ferry[0]["date"] == "2026-11-20"
        assert FERRY["text"][ferry[0]["start"] : ferry[0]["end"]] == ferry[0]["quote"]
    # This process saw the write too: its keyword index was rebuilt from the server.
    assert "7 to 2" in on_server.ask(FERRY_Q).text
    assert on_server.keyword.stamp == on_server.store.stamp()


# --- llama.cpp's OpenAI-compatible server and the `openai:` backend ---------------------------


class LlamaServer(ServerProcess):
    def __init__(self, log_dir: Path, port: int):
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", bundled_gguf(),
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"]
        super().__init__("llama-server", cmd, f"http://127.0.0.1:{port}/v1/models", log_dir)
        self.base_url = f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def llama(logs: Path) -> Iterator[LlamaServer]:
    server = LlamaServer(logs, free_port())
    server.start().wait_ready(120)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def via_server(llama: LlamaServer, seeded) -> NewsQA:
    """One NewsQA (kept for the whole module, like a running worker) using the openai: backend."""
    qa = NewsQA(
        seeded.settings.data_dir, embedder=seeded.embedder, store=seeded.store,
        llm="openai:smollm2", llm_base_url=llama.base_url, llm_timeout=60.0, llm_retries=2, mode="generative",
    )
    # SmolLM2 rambles; a short cap keeps this file fast on a busy 2-core machine.
    qa.chat_model.max_tokens = 60
    return qa


PROMPT = [HumanMessage(content="Name three colours.")]
SHORT = {"max_tokens": 12}


@pytest.mark.slow
def test_openai_backend_answers_and_streams_through_the_llama_cpp_server(via_server):
    model = via_server.chat_model
    assert model._llm_type == "newsqa-openai-compatible"
    assert model.invoke(PROMPT, **SHORT).content.strip()
    pieces = [str(c.content) for c in model.stream(PROMPT, **SHORT)]
    assert sum(1 for p in pieces if p) > 3  # token by token, not one block

    items = list(via_server.stream("How long was the siege of Deir Ezzor?", mode="generative"))
    answer = items[-1]
    assert isinstance(answer, Answer) and answer.mode == "generative" and not answer.abstained
    assert answer.warnings == []  # the server answered; nothing fell back
    assert "".join(i for i in items if isinstance(i, str)) == answer.text
    # What SmolLM2 writes is its own; what newsqa shows of it is checked: sentences the model
    # wrote that passed the check (or, if none did, quotes), each cited to the seed's exact text.
    assert answer.sentences and all(s.citations and s.support in {"supported", "quoted"} for s in answer.sentences)
    if any(s.support == "quoted" for s in answer.sentences):
        assert any("did not pass the citation check" in n for n in answer.notes), answer.notes
    assert answer.citations
    for c in answer.citations:
        assert SEED_TEXT[c.start : c.end] == c.quote


@pytest.mark.slow
def test_llamacpp_backend_streams_too():
    model = make_chat_model("llamacpp")
    assert model._llm_type == "newsqa-llamacpp"
    model.max_tokens = 12
    pieces = [str(c.content) for c in model.stream(PROMPT)]
    assert sum(1 for p in pieces if p) > 3 and "".join(pieces).strip()


@pytest.mark.slow
def test_a_killed_model_server_is_a_clear_error_and_a_restarted_one_works_again(via_server, llama, chroma, on_server):
    from app.ui import respond

    model = via_server.chat_model
    llama.kill()

    t = time.monotonic()
    with pytest.raises(BackendError, match=r"Cannot reach the model server at " + llama.base_url + r" \(tried 3 times\)"):
        model.invoke(PROMPT)
    assert time.monotonic() - t < 20  # bounded: three quick attempts with backoff, not a hang
    with pytest.raises(BackendError, match="Cannot reach the model server"):
        list(model.stream(PROMPT))

    # Asking still works: the sources are quoted and the reader is told why.
    a = via_server.ask("Who controls Deir Ezzor?", mode="generative")
    assert "less than half the city" in a.text and a.citations
    assert len(a.warnings) == 1 and "could not answer" in a.warnings[0] and "Cannot reach the model server" in a.warnings[0]
    assert "Note: The language model could not answer" in a.render()
    history, _ = list(respond(via_server, "Who controls Deir Ezzor?", []))[-1]
    assert "less than half the city" in history[-1]["content"] and "⚠️" in history[-1]["content"]

    # The command line says the same, and exits normally.
    r = subprocess.run(
        [str(BIN / "newsqa"), "ask", "--chroma-url", chroma, "--mode", "generative", "--llm", "openai:smollm2",
         "--llm-base-url", llama.base_url, "Who controls Deir Ezzor?"],
        env=_clean_env(NEWSQA_DATA_DIR=str(Path(on_server.settings.data_dir)), NEWSQA_LLM_RETRIES="0"),
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "less than half the city" in r.stdout and "Note: The language model could not answer" in r.stdout

    # The same server comes back on the same port: the same chat model works again.
    llama.start().wait_ready(120)
    assert via_server.chat_model is model
    assert model.invoke(PROMPT, **SHORT).content.strip()
    again = via_server.ask("Who controls Deir Ezzor?", mode="generative")
    # Which checked sentence the model's answer leads with depends on its wording; what matters
    # here is that the restarted server answered (no warning) and every quote is real.
    assert again.warnings == [] and again.citations and not again.abstained
    text = (Path(__file__).resolve().parent.parent / "seeds" / "000_b5f749c51e8e6818.txt").read_text(encoding="utf-8")
    assert all(text[c.start : c.end] == c.quote for c in again.citations)


# --- servers that misbehave -------------------------------------------------------------------


class Misbehaving(http.server.BaseHTTPRequestHandler):
    """Answers /v1/chat/completions the way broken servers and proxies do (`behaviour` says how)."""

    behaviour = "html"
    requests = 0

    def do_POST(self) -> None:
        type(self).requests += 1
        self.rfile.read(int(self.headers.get("content-length", 0)))
        b = type(self).behaviour
        if b == "stall":
            time.sleep(4)
        if b == "503":
            self._send(503, b"busy", "text/plain")
        elif b == "404":
            self._send(404, b'{"error": {"message": "no route"}}', "application/json")
        elif b == "cut":
            # One good streamed piece, then the connection drops mid-answer.
            piece = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": "The militants"}, "finish_reason": None}]}
            data = f"data: {json.dumps(piece)}\n\n".encode()
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("content-length", str(len(data) + 1000))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self._send(200, b"<html><body>Welcome to the proxy</body></html>", "text/html")

    def _send(self, code: int, data: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def misbehaving() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/v1"
    srv.shutdown()


def _set(behaviour: str) -> None:
    Misbehaving.behaviour, Misbehaving.requests = behaviour, 0


def test_a_reply_that_is_not_openai_shaped_is_a_clear_error_and_not_retried(misbehaving):
    _set("html")
    model = make_chat_model("openai:m", base_url=misbehaving, retries=2)
    with pytest.raises(BackendError, match="not an OpenAI-compatible chat completion"):
        model.invoke(PROMPT)
    assert Misbehaving.requests == 1
    with pytest.raises(BackendError, match="not an OpenAI-compatible chat completion"):
        list(model.stream(PROMPT))


def test_an_overloaded_server_is_retried_with_backoff_then_reported(misbehaving):
    _set("503")
    model = make_chat_model("openai:m", base_url=misbehaving, retries=2)
    t = time.monotonic()
    with pytest.raises(BackendError, match=r"answered with an error \(tried 3 times\)"):
        model.invoke(PROMPT)
    waited = time.monotonic() - t
    assert Misbehaving.requests == 3
    assert 1.4 < waited < 10  # backoff of 0.5 s then 1 s between the three attempts


def test_a_stalled_server_times_out(misbehaving):
    _set("stall")
    model = make_chat_model("openai:m", base_url=misbehaving, timeout=1.0, retries=0)
    t = time.monotonic()
    with pytest.raises(BackendError, match=r"did not answer within 1.0 s"):
        model.invoke(PROMPT)
    assert time.monotonic() - t < 3.5


def test_a_wrong_url_says_to_check_v1(misbehaving):
    _set("404")
    model = make_chat_model("openai:m", base_url=misbehaving, retries=2)
    with pytest.raises(BackendError, match="ends in /v1"):
        model.invoke(PROMPT)
    assert Misbehaving.requests == 1


def test_a_stream_cut_mid_answer_is_reported_not_retried(misbehaving, seeded):
    _set("cut")
    model = make_chat_model("openai:m", base_url=misbehaving, retries=2)
    got: list[str] = []
    with pytest.raises(BackendError, match="stopped in the middle of an answer"):
        for c in model.stream(PROMPT):
            got.append(str(c.content))
    assert "The militants" in "".join(got) and Misbehaving.requests == 1
    # In the chat, the answer still comes from the sources, with the warning.
    qa = NewsQA(seeded.settings.data_dir, embedder=seeded.embedder, store=seeded.store, chat_model=model)
    a = qa.ask("Who controls Deir Ezzor?", mode="generative")
    assert "less than half the city" in a.text and a.warnings and "stopped in the middle" in a.warnings[0]


# --- last, as it restarts the module's Chroma server ----------------------------------------


def test_a_lost_chroma_server_is_a_clear_error_and_its_return_is_picked_up(chroma_server, chroma, on_server):
    from app.ui import respond

    chroma_server.kill()
    with pytest.raises(StoreError, match="Lost the Chroma server at " + chroma):
        on_server.ask("Who controls Deir Ezzor?")
    history, _ = list(respond(on_server, "Who controls Deir Ezzor?", []))[-1]
    assert "Lost the Chroma server" in history[-1]["content"]
    chroma_server.start().wait_ready(60)  # same port, same --path
    assert "less than half the city" in on_server.ask("Who controls Deir Ezzor?").text

"""Nothing lost: killed ingests, damaged data directories, bad input and asking during an ingest.

All on the real store (embedded Chroma in temp folders) and the real embedding model. The
catalogues here (generated corpus, bad inputs, damage) are also what bench/reliability.py runs
at a larger scale for BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import Answer, NewsQA, NewsQAError
from ingest.keyword import KeywordIndex
from ingest.store import Store, StoreError

from .conftest import ROOT, SEEDS

SEED_QUESTION = "Who controls Deir Ezzor?"
SEED_ANSWER = "less than half the city"

# --- a generated corpus: distinct articles, some long enough for several chunks ----------------

_TOWNS = ["Alderney", "Brackwater", "Caldmoor", "Dunhallow", "Eastwick", "Fernhill", "Glenrock", "Harrowgate",
          "Ivybridge", "Kestrel Bay", "Larkfield", "Marlow Cross", "Northam", "Oakhurst", "Pennyford", "Quarry End"]
_THINGS = ["ferry timetable", "school roof", "flood barrier", "tram extension", "market hall", "wind farm",
           "water main", "cycle lane", "library wing", "harbour wall", "bus depot", "care home", "sports ground"]
_VERBS = ["approved", "delayed", "rejected", "funded", "reopened", "inspected", "cancelled", "extended"]
_WORDS = ("council budget residents engineers contract tender survey objection petition hearing inspector "
          "minister grant deadline weather traffic drainage lighting planning heritage tourism fishing").split()


def corpus_articles(n: int, seed: int = 0, version: int = 1) -> list[dict]:
    """`n` distinct news-like records; every fifth is long enough to make several chunks.

    `version` 2 rewrites every other article, so re-ingesting it exercises the update path.
    """
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        town, thing, verb = rnd.choice(_TOWNS), rnd.choice(_THINGS), rnd.choice(_VERBS)
        cost = rnd.randint(2, 900)
        sentences = [f"{town} council {verb} the {thing} plan number {i} on Tuesday, at a cost of {cost} thousand pounds."]
        length = rnd.randint(9, 14) if i % 5 == 0 else rnd.randint(1, 3)
        for j in range(length):
            words = " ".join(rnd.sample(_WORDS, 6))
            sentences.append(f"Item {i}.{j} of the report on the {thing} concerns {words}.")
        if version == 2 and i % 2 == 0:
            sentences.append(f"Update: the {thing} vote in {town} was repeated on Friday.")
        out.append({
            "id": f"gen-{i:04d}",
            "title": f"{town} {thing} {verb} ({i})",
            "source": rnd.choice(["Wire", "Gazette", "Courier"]),
            "published_at": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "text": " ".join(sentences),
            "town": town,  # not article fields (the loader ignores them): for questions in tests
            "thing": thing,
        })
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# --- killing an ingest: a child process that says where it is --------------------------------

# The children below open the index their first argument names: a data folder (embedded Chroma)
# or a Chroma server's URL, so the same checks run against `chroma run` (tests/test_servers.py).
_OPEN_STORE = r"""
def open_store(embedder, where, **kw):
    return Store(embedder, url=where, **kw) if "://" in where else Store(embedder, path=where, **kw)
"""

# The child ingests in small batches and prints a line before and after every Chroma write of
# chunks and of article records (the commit marker), so the parent can kill it at a chosen write.
INGEST_CHILD = r"""
import sys
from app.core import build_embedder
from ingest.pipeline import ingest_paths
from ingest.store import Store
""" + _OPEN_STORE + r"""
store = open_store(build_embedder(), sys.argv[1])
for name in ("chunks", "articles"):
    col = getattr(store, name)
    def announced(*args, _write=col.add, _name=name, **kwargs):
        print(_name + "-start", flush=True)
        out = _write(*args, **kwargs)
        print(_name + "-done", flush=True)
        return out
    col.add = announced
report = ingest_paths([sys.argv[2]], store, batch_chunks=int(sys.argv[3]), background_encoder=sys.argv[4:] == ["1"],
                      on_progress=lambda done, total: print("progress", done, flush=True))
print("finished", report.added, report.updated, report.unchanged, flush=True)
"""

# Reads the index in a fresh process (this one may hold a cached Chroma client for the folder);
# vectors are not computed, so the embedding model isn't loaded: a stand-in gives its name.
AUDIT_CHILD = r"""
import json, sys
from ingest.embedder import MODEL_NAME
from ingest.keyword import KeywordIndex
from ingest.store import Store
""" + _OPEN_STORE + r"""
class Named:
    name, dim = MODEL_NAME, 384

# The audit embeds nothing (it reads the stored vectors), so it reads an index of any encoder as it is.
store = open_store(Named(), sys.argv[1], check_encoder=False)
articles = store.all_articles()
keyword = KeywordIndex()
keyword.sync(store)
print(json.dumps({
    "problems": store.verify(),
    "articles": {aid: store.article_text(aid) for aid in articles},
    "keyword_chunks": len(keyword),
    "chunks_of_live_articles": sum(m["n_chunks"] for m in articles.values()),
}))
"""


def run_child(data: Path | str, corpus: Path, kill_at: tuple[str, int] | None = None, batch: int = 4,
              timeout: float = 600, background_encoder: bool = False) -> tuple[int, list[str]]:
    """Run an ingest into `data` (a folder or a Chroma server URL) in a child process; with
    `kill_at=(marker, n)`, SIGKILL it at the n-th such line."""
    proc = subprocess.Popen(
        [sys.executable, "-c", INGEST_CHILD, str(data), str(corpus), str(batch), "1" if background_encoder else "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    lines: list[str] = []
    seen = 0
    try:
        for line in proc.stdout:
            lines.append(line.strip())
            if kill_at and line.startswith(kill_at[0]):
                seen += 1
                if seen == kill_at[1]:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
        proc.wait(timeout=60)
    finally:
        watchdog.cancel()
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"ingest child failed ({proc.returncode}): {proc.stderr.read()[-2000:]}")
    return proc.returncode, lines


def audit(data: Path | str) -> dict:
    """What the index in `data` (a folder or a Chroma server URL) holds, read by a fresh process."""
    out = subprocess.run([sys.executable, "-c", AUDIT_CHILD, str(data)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def assert_all_or_nothing(state: dict, expected: dict[str, str]) -> None:
    """Every indexed article is whole and one of ours; leftovers are only unfinished writes."""
    assert all("unfinished articles" in p for p in state["problems"]), state["problems"]
    for aid, text in state["articles"].items():
        assert text == expected[aid], aid
    assert state["keyword_chunks"] == state["chunks_of_live_articles"]


@pytest.mark.parametrize("background_encoder", [False, True], ids=["in-process", "encoder-process"])
def test_a_killed_ingest_leaves_whole_articles_and_the_rerun_finishes(tmp_path, embedder, background_encoder):
    records = corpus_articles(48)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", records)
    expected = {r["id"]: r["text"] for r in records}
    data = tmp_path / "data"
    # Killed while reading and embedding, right after a chunk write (before its commit marker),
    # and while the article records themselves are being written.
    for kill_at in [("progress", 6), ("chunks-done", 2), ("articles-start", 2)]:
        code, lines = run_child(data, corpus, kill_at=kill_at, background_encoder=background_encoder)
        assert code == -signal.SIGKILL and not any(x.startswith("finished") for x in lines), kill_at
        state = audit(data)
        assert_all_or_nothing(state, expected)
        assert len(state["articles"]) < len(records)
    code, lines = run_child(data, corpus)
    assert code == 0 and lines[-1].startswith("finished")
    added = int(lines[-1].split()[1])
    state = audit(data)
    assert state["problems"] == []  # no leftovers, no count mismatch, no duplicate, every vector found
    assert state["articles"] == expected  # nothing lost
    assert added < len(records)  # the rerun finished the rest rather than starting over
    # A first open in this process: answers come from the finished index.
    qa = NewsQA(data, embedder=embedder)
    try:
        r = records[7]
        a = qa.ask(f"What did {r['town']} council decide about the {r['thing']} plan number 7?")
        assert any(c.article_id == r["id"] for c in a.citations)
    finally:
        qa.store.close()


# --- damaged data directories --------------------------------------------------------------


@pytest.fixture(scope="module")
def built_index(tmp_path_factory, embedder) -> Path:
    """The seeds indexed with vectors flushed to Chroma's segment files (so damaging them matters).

    Chroma writes its vector files after `sync_threshold` additions (1000 by default) and keeps
    newer vectors in its SQLite log; a threshold of 2 makes this small index persist its files.
    """
    d = tmp_path_factory.mktemp("built") / "data"
    store = Store(embedder, path=d)
    store.chunks.modify(configuration={"hnsw": {"sync_threshold": 2, "batch_size": 2}})
    from ingest.pipeline import ingest_paths

    ingest_paths([SEEDS], store)
    store.close()
    segments = [p for p in (d / "chroma").iterdir() if p.is_dir() and (p / "index_metadata.pickle").exists()]
    assert segments, "the vector files were not written"
    return d


def _segments(d: Path) -> list[Path]:
    return [p for p in (d / "chroma").iterdir() if p.is_dir()]


def _garble(f: Path, offset: int, n: int) -> None:
    with f.open("r+b") as fh:
        fh.seek(offset)
        fh.write(random.Random(offset).randbytes(n))


def _sql(d: Path, statement: str) -> None:
    con = sqlite3.connect(d / "chroma" / "chroma.sqlite3")
    con.execute(statement)
    con.commit()
    con.close()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "database truncated to half": lambda d: os.truncate(d / "chroma/chroma.sqlite3", (d / "chroma/chroma.sqlite3").stat().st_size // 2),
    "database header garbled": lambda d: _garble(d / "chroma/chroma.sqlite3", 0, 100),
    "database emptied": lambda d: os.truncate(d / "chroma/chroma.sqlite3", 0),
    "database missing": lambda d: (d / "chroma/chroma.sqlite3").unlink(),
    "vector files emptied": lambda d: [os.truncate(f, 0) for s in _segments(d) for f in s.iterdir()],
    "vector files garbled": lambda d: [_garble(f, 0, f.stat().st_size) for s in _segments(d) for f in s.iterdir() if f.stat().st_size],
    "vector data truncated": lambda d: [os.truncate(s / "data_level0.bin", 100) for s in _segments(d) if (s / "data_level0.bin").exists()],
    "vector folders deleted": lambda d: [shutil.rmtree(s) for s in _segments(d)],
    "written by another schema": lambda d: _sql(d, "UPDATE collection_metadata SET int_value = 0 WHERE key = 'schema'"),
}


def _damaged_copy(src: Path, dest: Path, damage: str | None) -> Path:
    shutil.copytree(src, dest)
    (dest / ".newsqa.lock").unlink(missing_ok=True)
    if damage:
        DAMAGE[damage](dest)
    return dest


def test_an_undamaged_copy_answers(built_index, tmp_path, embedder):
    """The control for the damage cases below: copying the folder itself harms nothing."""
    qa = NewsQA(_damaged_copy(built_index, tmp_path / "copy", None), embedder=embedder)
    try:
        assert SEED_ANSWER in qa.ask(SEED_QUESTION).text
    finally:
        qa.store.close()


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_index_is_refused_with_the_rebuild_command(damage, built_index, tmp_path, embedder):
    d = _damaged_copy(built_index, tmp_path / "copy", damage)
    with pytest.raises(StoreError) as caught:
        qa = NewsQA(d, embedder=embedder)
        try:
            qa.ask(SEED_QUESTION)  # never a quiet "the articles don't say"
        finally:
            qa.store.close()
    message = str(caught.value)
    assert "newsqa ingest" in message and str(d) in message
    assert "move" in message.lower() or "rebuild" in message.lower()


def test_the_cli_says_how_to_rebuild_a_damaged_index(built_index, tmp_path):
    from click.testing import CliRunner

    from app.cli import main

    d = _damaged_copy(built_index, tmp_path / "copy", "vector folders deleted")
    result = CliRunner().invoke(main, ["ask", SEED_QUESTION, "--data-dir", str(d)])
    assert result.exit_code == 1
    assert "damaged" in result.output and "newsqa ingest" in result.output
    assert "Traceback" not in result.output


# --- bad input: each skipped with a reason, the index unharmed -------------------------------

# name -> (file contents, expected outcome: a word of the skip reason, or None for "ingested")
def bad_inputs() -> dict[str, tuple[bytes, str | None]]:
    good = "The Harrow Lane bridge reopened on Monday after eight months of repairs, the council said."
    return {
        "binary.txt": (bytes(range(256)) * 64, "binary"),
        "picture.png": (b"\x89PNG\r\n\x1a\n" + bytes(200), "unsupported file type"),
        "zero.txt": (b"", "empty"),
        "blank.md": (b" \n\t\n   \n", "empty"),
        "huge.txt": (b"", "too large"),  # 50 MB, written by make_bad_inputs
        "invalid-utf8.txt": ("Zürich voted on the tram plan. Café owners in Genève objected, ".encode() + b"\xff"
                             + "and the préfet agreed.".encode(), None),
        "latin1.txt": ("Zürich's café owners objected to the tram plan on Tuesday.".encode("latin-1"), None),
        "utf16.txt": ("Genève's lake ferry timetable changes in June, the operator said.".encode("utf-16"), None),
        "truncated.json": (b'{"title": "Cut", "text": "The ferry timetable chan', "malformed JSON"),
        "truncated.jsonl": ((json.dumps({"id": "t-1", "text": "Glenrock opened a new market hall on Saturday."}) + "\n"
                             + '{"id": "t-2", "text": "The second record is cut').encode(), "malformed JSON"),
        "duplicate-ids.jsonl": ("".join(json.dumps({"id": "dup-1", "text": t}) + "\n" for t in (
            "Caldmoor fishermen protested the new quota on Wednesday.",
            "A different text under the same id, later in the file.")).encode(), "duplicate id"),
        "lone-surrogate.jsonl": (b'{"id": "sur-1", "title": "Odd \\ud800 title", "text": "Fernhill \\udc00 approved the cycle lane on Friday."}\n', None),
        "no-body.html": (b"<html><head><title>Only a head</title></head></html>", "no article text"),
        "nested.html": (("<html><body>" + "<div>" * 100_000 + "<p>Quarry End residents welcomed the new bus depot plans this week.</p>"
                         + "</div>" * 100_000 + "</body></html>").encode(), None),
        "one-long-word.txt": (b"x" * 3_000_000, "without spaces"),
        "control-chars.txt": ((b"The Northam water main burst on Sunday \x01\x02\x0b and was \x1b[1mrepaired\x1b[0m by Monday evening, "
                               b"the water company said. Crews worked overnight to restore supply to 4,000 homes in the town."), None),
        "mostly-control.txt": (b"\x01\x02\x03\x04\x05\x06 text \x07\x08\x0e\x0f\x10\x11\x12\x13\x14\x15\x16", "binary"),
        "good.txt": (good.encode(), None),
    }


def make_bad_inputs(folder: Path) -> dict[str, str | None]:
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (data, outcome) in bad_inputs().items():
        if name == "huge.txt":
            with (folder / name).open("wb") as fh:
                line = b"All work and no play makes a very large file. " * 20 + b"\n"
                for _ in range(50 * 1024 * 1024 // len(line) + 1):
                    fh.write(line)
        else:
            (folder / name).write_bytes(data)
        expected[name] = outcome
    return expected


def test_bad_input_is_skipped_with_reasons_and_the_index_is_unharmed(fresh, tmp_path):
    fresh.ingest(SEEDS)
    before = fresh.ask(SEED_QUESTION)
    expected = make_bad_inputs(tmp_path / "bad")
    report = fresh.ingest(tmp_path / "bad")
    reasons: dict[str, list[str]] = {}
    for s in report.skipped:
        reasons.setdefault(Path(s.path.split(":")[0]).name, []).append(s.reason)
    for name, outcome in expected.items():
        if outcome is None:
            assert name not in reasons or name.endswith(".jsonl"), (name, reasons.get(name))
        else:
            assert any(outcome in r for r in reasons.get(name, [])), (name, reasons.get(name))
    # Every readable article went in whole, and text that is not prose was kept out.
    texts = [fresh.store.article_text(a) for a in fresh.store.all_articles()]
    assert any(t.startswith("Zürich voted on the tram plan. Café owners in Genève objected, \ufffdand the préfet") for t in texts)
    assert any(t.startswith("Zürich's café owners") for t in texts)
    assert any(t.startswith("Genève's lake ferry") for t in texts)
    assert any("Fernhill \ufffd approved" in t for t in texts)
    assert any(t == "Quarry End residents welcomed the new bus depot plans this week." for t in texts)
    assert any("\x1b" not in t and "was  [1mrepaired" in t for t in texts)
    assert fresh.store.counts()[0] == 1 + 9  # the seed + the 9 good articles among the bad inputs
    assert fresh.store.verify() == []
    after = fresh.ask(SEED_QUESTION)
    assert after.text == before.text
    again = fresh.ingest(tmp_path / "bad")
    assert again.added == again.updated == 0 and again.articles == fresh.store.counts()[0]


def test_huge_files_are_read_in_bounded_memory(fresh, tmp_path):
    """A 50 MB text file is refused by size and a 50 MB JSON line is skipped without being held."""
    big = tmp_path / "big"
    big.mkdir()
    line = b"All work and no play makes a very large file. " * 20 + b"\n"
    with (big / "huge.txt").open("wb") as fh:
        for _ in range(50 * 1024 * 1024 // len(line) + 1):
            fh.write(line)
    with (big / "huge.jsonl").open("wb") as fh:
        fh.write(b'{"id": "h-1", "text": "')
        for _ in range(50):
            fh.write(b"word " * (1024 * 1024 // 5))
        fh.write(b'"}\n' + json.dumps({"id": "h-2", "text": "The small record after the huge one."}).encode() + b"\n")
    tracemalloc.start()
    try:
        report = fresh.ingest(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert "too large" in reasons["huge.txt"] and "longer than" in reasons["huge.jsonl:1"]
    assert report.added == 1
    assert peak < 30 * 1024 * 1024, f"peak Python memory {peak / 1e6:.0f} MB"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    text=st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=400),
    raw=st.binary(max_size=300),
    question=st.text(max_size=80),
)
def test_arbitrary_text_never_crashes_ingest_or_ask(shared_fresh, text, raw, question):
    """Any text (lone surrogates and control characters included) as a JSON record, any bytes as
    a file: each is indexed or skipped with a reason, and asking anything answers or says why not."""
    qa, folder = shared_fresh
    with tempfile.TemporaryDirectory(dir=folder) as d:
        (Path(d) / "record.jsonl").write_text(json.dumps({"text": text, "title": text[:30]}) + "\n", encoding="ascii")
        (Path(d) / "raw.txt").write_bytes(raw)
        report = qa.ingest(d)
        assert all(s.reason for s in report.skipped)
    for q in (question, text[:120]):
        try:
            answer = qa.ask(q)
        except NewsQAError as e:
            assert "question" in str(e).lower() or "newsqa ingest" in str(e)
            continue
        for c in answer.citations:
            assert qa.store.article_text(c.article_id)[c.start : c.end] == c.quote


@pytest.fixture(scope="module")
def shared_fresh(tmp_path_factory, embedder):
    """One index for every hypothesis example (function fixtures would be shared anyway)."""
    d = tmp_path_factory.mktemp("arbitrary")
    qa = NewsQA(d / "data", embedder=embedder)
    qa.ingest(SEEDS)
    yield qa, d
    assert qa.store.verify() == []
    qa.store.close()


# --- asking while an ingest runs (threads of one process) ------------------------------------


def assert_cites_whole_articles(store: Store, answer: Answer, expected: dict[str, str]) -> None:
    """Every article `answer` cites is whole in `store`: its record, all its chunks, its full text.

    Checked right after the answer, while the ingest goes on: with articles only being added, a
    record once written stays whole, so anything short of it means the answer read a half-written
    article. (tests/test_servers.py runs the same check across processes on a Chroma server.)
    """
    for c in answer.citations:
        meta = store.article_meta([c.article_id]).get(c.article_id)
        assert meta is not None, f"cited {c.article_id} before its record was written"
        chunks = store.chunks.get(where={"article_id": c.article_id}, include=[])["ids"]
        assert len(chunks) == meta["n_chunks"], f"{c.article_id}: {len(chunks)} chunks, its record says {meta['n_chunks']}"
        text = store.article_text(c.article_id)
        assert text[c.start : c.end] == c.quote
        if c.article_id in expected:
            assert text == expected[c.article_id], f"{c.article_id} is not the text that was ingested"


def test_asking_during_an_ingest_sees_only_whole_articles(fresh, tmp_path):
    fresh.ingest(SEEDS)
    records = corpus_articles(40, seed=3)
    files = [write_jsonl(tmp_path / f"part{i}.jsonl", records[i::8]) for i in range(8)]
    expected = {r["id"]: r["text"] for r in records}
    errors: list[BaseException] = []

    def ingest_all() -> None:
        try:
            for f in files:
                fresh.ingest(f)  # eight commits, each after its chunks
        except BaseException as e:
            errors.append(e)

    writer = threading.Thread(target=ingest_all)
    writer.start()
    asked = 0
    try:
        while writer.is_alive() or asked < 4:
            for q in (SEED_QUESTION, "What did Glenrock council decide about the market hall?"):
                answer = fresh.ask(q)
                asked += 1
                if q == SEED_QUESTION:
                    assert SEED_ANSWER in answer.text
                assert_cites_whole_articles(fresh.store, answer, expected)
    finally:
        writer.join()
    assert not errors, errors
    assert asked >= 4
    assert fresh.store.counts()[0] == 1 + len(records)
    assert fresh.store.verify() == []
    keyword = KeywordIndex()
    keyword.sync(fresh.store)
    assert len(keyword) == sum(m["n_chunks"] for m in fresh.store.all_articles().values())

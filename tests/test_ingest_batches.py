"""Ingest in batches: look-ups read ahead, the encoder process that overlaps the writes, interruptions.

Real components throughout: Chroma in temp folders, the bundled model (int8 where this CPU has it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest

from ingest.chunking import chunk_article
from ingest.loaders import make_article
from ingest.models import Article, IngestReport, Skip
from ingest.pipeline import ingest_items
from ingest.store import Store

from .conftest import ROOT

_TOWNS = ["Alderney", "Brackwater", "Caldmoor", "Dunhallow", "Eastwick", "Fernhill", "Glenrock", "Harrowgate"]
_THINGS = ["ferry timetable", "school roof", "flood barrier", "tram extension", "market hall", "wind farm"]


def story(i: int, extra: str = "") -> str:
    """A distinct one-chunk article of about 90 words."""
    town, thing = _TOWNS[i % len(_TOWNS)], _THINGS[(i // len(_TOWNS)) % len(_THINGS)]
    return (
        f"{town} council voted on the {thing} plan number {i} on Tuesday evening, after a long debate. "
        f"Councillor {i} said the {thing} would cost {100 + 7 * i} thousand pounds and take {2 + i % 5} years. "
        f"Residents of {town} had asked for the {thing} since {1990 + i % 30}, and a petition gathered {300 + 11 * i} names. "
        f"The plan now goes to the regional board, which meets in {['March', 'June', 'October'][i % 3]}. "
        f"Engineers will survey the site first, the report number {i} said.{extra}"
    )


def article(i: int, *, id: str | None = None, text: str | None = None) -> Article:
    return make_article(text=text or story(i), title=f"Plan {i}", source="Gazette", id=id or f"plan-{i:03d}",
                        published_at=f"2024-03-{1 + i % 28:02d}")


def stream() -> list[Article]:
    """Batches of four one-chunk articles (batch_chunks=4), with repeats placed so that each names
    an article of the batch being encoded when it is read."""
    a = [article(i) for i in range(24)]
    assert all(len(chunk_article(x.id, x.text)) == 1 for x in a)
    # Batch 1 (0-3) is encoded in this process; batch 2 (4-7) is submitted to the encoder process
    # at the 8th article and is in flight while the next are read.
    items = a[:8]
    items.append(article(5))  # the same article again: unchanged, once batch 2 is written
    items.append(article(6, text=story(6, " The vote was repeated on Friday.")))  # changed: an update
    items.append(article(99, id="plan-copy", text=story(7)))  # batch 2's text under another id
    items += a[8:11]  # with the update, batch 3, in flight from here
    byline = "By Wire Staff, Eastwick Courier. "
    items.append(make_article(text=byline + story(9), title="Plan 9 (Courier)", source="Courier", id="courier-9",
                              published_at="2024-03-10"))  # a syndicated copy of batch 3's article 9
    items += a[11:]
    return items


def snapshot(store: Store) -> dict:
    out = {}
    for name in ("chunks", "articles"):
        got = getattr(store, name).get(include=["documents", "metadatas", "embeddings"])
        order = np.argsort(got["ids"])
        out[name] = {
            "ids": [got["ids"][i] for i in order],
            "documents": [got["documents"][i] for i in order],
            "metadatas": [got["metadatas"][i] for i in order],
            "embeddings": np.asarray(got["embeddings"])[order],
        }
    return out


def summary(report: IngestReport) -> tuple:
    return (report.added, report.updated, report.unchanged, report.chunks_added, report.articles, report.chunks,
            sorted((s.path, s.reason) for s in report.skipped))


@pytest.fixture
def process_log(embedder, monkeypatch) -> list:
    """Every encoder process that ingest starts."""
    started: list = []
    if not hasattr(embedder, "start_process"):
        return started
    real = embedder.start_process

    def start():
        p = real()
        started.append(p)
        return p

    monkeypatch.setattr(embedder, "start_process", start)
    return started


def test_the_encoder_process_gives_this_process_vectors_in_order(embedder):
    if not embedder.encoder.startswith("int8"):
        pytest.skip("the encoder process is the int8 encoder's")
    texts = [story(i) for i in range(12)] + ["a", "  Who controls Deir Ezzor?  ", story(3) * 8]
    p = embedder.start_process()
    try:
        p.submit(texts)
        p.submit(texts[::-1])
        first, second = p.result(), p.result()
    finally:
        p.close()
    here = embedder.embed(texts)
    assert np.array_equal(first, here)  # the same bits: one text per run, the same export and settings
    assert np.array_equal(second, here[::-1])
    assert p._proc.returncode == 0


PARENT = r"""
import sys
sys.path.insert(0, sys.argv[1])
from ingest.embedder import Embedder
p = Embedder("auto", cache_dir=sys.argv[2]).start_process()
print(p._proc.pid, flush=True)
p.submit(["warm up"]); p.result()
print("ready", flush=True)
sys.stdin.read()
"""


def test_the_encoder_process_ends_with_a_killed_parent(embedder, encoder_cache):
    if not embedder.encoder.startswith("int8"):
        pytest.skip("the encoder process is the int8 encoder's")
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(ROOT), str(encoder_cache)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert parent.stdout.readline().strip() == "ready"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.1)
        assert not _alive(child), "the encoder process outlived the ingest that started it"
    finally:
        if parent.poll() is None:
            parent.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_batches_written_while_the_next_is_encoded_give_the_same_index(embedder, tmp_path, process_log):
    """The encoder process (batch k+1 encoded while batch k is written) and the look-ups read ahead
    give the index and the report of one batch at a time, repeats and copies included."""
    results = {}
    for background in (True, False):
        store = Store(embedder, path=tmp_path / f"data-{background}")
        try:
            report = ingest_items(stream(), store, batch_chunks=4, background_encoder=background)
            results[background] = (summary(report), snapshot(store), store.verify())
            if background:
                assert (report.added, report.updated, report.unchanged, report.articles) == (24, 1, 1, 24), summary(report)
                reasons = [s.reason for s in report.skipped]
                assert any("same text as 'plan-007'" in r for r in reasons), reasons
                assert any(r.startswith("syndicated copy of 'plan-009'") for r in reasons), reasons
                assert "repeated on Friday" in store.article_text("plan-006")
                assert "Courier" in store.article_meta(["plan-009"])["plan-009"]["also_published_by"]
        finally:
            store.close()
    (rep_bg, snap_bg, problems_bg), (rep_fg, snap_fg, problems_fg) = results[True], results[False]
    assert problems_bg == problems_fg == []
    assert rep_bg == rep_fg
    for name in ("chunks", "articles"):
        for key in ("ids", "documents", "metadatas"):
            assert snap_bg[name][key] == snap_fg[name][key], (name, key)
        assert np.array_equal(snap_bg[name]["embeddings"], snap_fg[name]["embeddings"]), name
    if embedder.encoder.startswith("int8"):
        assert len(process_log) == 1  # started once, for the run with background_encoder
        assert process_log[0]._proc.returncode == 0  # and stopped at the end


def test_a_single_batch_starts_no_encoder_process(embedder, tmp_path, process_log):
    store = Store(embedder, path=tmp_path / "data")
    try:
        report = ingest_items([article(i) for i in range(3)], store, batch_chunks=4, background_encoder=True)
    finally:
        store.close()
    assert report.added == 3 and process_log == []


class Interrupted(Exception):
    pass


def interrupted_after(items: list[Article], n: int) -> Iterator[Article | Skip]:
    yield from items[:n]
    raise Interrupted


def stop_at(n: int):
    def on_progress(done: int, total: int | None) -> None:
        if done == n:
            raise KeyboardInterrupt

    return on_progress


@pytest.mark.parametrize("how", ["the source fails", "Ctrl-C"])
def test_an_interrupted_ingest_keeps_whole_articles_and_stops_the_encoder_process(how, embedder, tmp_path, process_log):
    """Stopped with two batches written, one being encoded and one being read: the written batches
    stay whole, nothing of the others is committed, the encoder process ends; the rerun finishes.
    A failing source is read ahead of its turn, but its error comes at its turn."""
    items = [article(i) for i in range(24)]
    expected = {a.id: a.text for a in items}
    store = Store(embedder, path=tmp_path / "data")
    try:
        if how == "Ctrl-C":
            with pytest.raises(KeyboardInterrupt):
                ingest_items(items, store, batch_chunks=4, on_progress=stop_at(15), background_encoder=True)
        else:
            with pytest.raises(Interrupted):
                ingest_items(interrupted_after(items, 14), store, batch_chunks=4, background_encoder=True)
        if embedder.encoder.startswith("int8"):
            assert len(process_log) == 1 and process_log[0]._proc.poll() is not None
        got = store.all_articles()
        # Batches 1 and 2 (articles 0-7) are written; batch 3 (8-11) was being encoded when the
        # stop came and batch 4 (12-13) not yet sent: neither is committed.
        assert sorted(got) == sorted(a.id for a in items[:8])
        assert all(store.article_text(aid) == expected[aid] for aid in got)
        assert all("unfinished articles" in p for p in store.verify())
        report = ingest_items(items, store, batch_chunks=4)
        assert (report.added, report.unchanged) == (16, 8)
        assert store.verify() == []
        assert {aid: store.article_text(aid) for aid in store.all_articles()} == expected
    finally:
        store.close()

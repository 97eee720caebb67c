"""The keyword index follows writes at their own cost, and scores as a full rebuild would.

On the real store (embedded Chroma in a temp folder) and the real embedding model; scores are
checked against BM25 computed here from the store's chunks, independently of ingest/keyword.py.
Several workers on a Chroma server: tests/test_servers.py.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter

import pytest

from ingest.keyword import KeywordIndex, keyword_text
from ingest.store import Store
from ingest.terms import terms

from .conftest import SEEDS
from .test_reliability import corpus_articles, write_jsonl

QUERIES = [
    "Who controls Deir Ezzor?",
    "Glenrock council market hall",
    "flood barrier plan number 7",
    "council budget residents engineers",
    "Wire Gazette 2024",
    "ferry timetable delayed",
]


def reference_scores(store: Store, query_terms: list[str], k1: float = 1.2, b: float = 0.75) -> tuple[dict, dict]:
    """BM25 of the store's live chunks, and of its articles as one document each, from scratch."""
    live = store.all_articles()
    chunks: dict[str, Counter] = {}
    articles: dict[str, Counter] = {}
    for cid, doc, meta in store.iter_chunks():
        aid = meta["article_id"]
        if aid not in live:
            continue
        chunks[cid] = Counter(terms(keyword_text(doc, meta)))
        body = articles.setdefault(aid, Counter(terms(keyword_text("", meta))))  # the header once
        body.update(terms(doc))

    def bm25(docs: dict[str, Counter]) -> dict[str, float]:
        n = len(docs)
        avg = sum(sum(c.values()) for c in docs.values()) / n
        df = Counter(t for c in docs.values() for t in c)
        out = {}
        for key, counts in docs.items():
            length = sum(counts.values())
            s = 0.0
            for t in query_terms:
                tf = counts.get(t, 0)
                if tf:
                    idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                    s += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg))
            if s > 0:
                out[key] = s
        return out

    return bm25(chunks), bm25(articles)


def assert_same_index(a: KeywordIndex, b: KeywordIndex, store: Store | None = None) -> None:
    """Same chunks, the same scores and the same rankings (ties included)."""
    assert len(a) == len(b)
    for q in QUERIES:
        sa, sb = a.scores(q), b.scores(q)
        assert sa.keys() == sb.keys()
        assert all(sa[c] == pytest.approx(sb[c], rel=1e-12) for c in sa), q
        assert a.article_scores(q) == pytest.approx(b.article_scores(q), rel=1e-12)
        assert a.search(q, 15) == b.search(q, 15)
        assert a.search_articles(q, 10) == b.search_articles(q, 10)
        if store is not None:
            chunks, articles = reference_scores(store, a.query_terms(q))
            assert sa == pytest.approx(chunks, rel=1e-9), q
            assert a.article_scores(q) == pytest.approx(articles, rel=1e-9), q


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch):
    """Counts the reads of every chunk in the store (`iter_chunks`)."""
    calls = []
    original = Store.iter_chunks

    def iter_chunks(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Store, "iter_chunks", iter_chunks)
    return calls


def test_adds_updates_and_removals_are_applied_incrementally_and_score_like_a_rebuild(fresh, tmp_path, counted):
    records = corpus_articles(30, seed=5)
    store = fresh.store
    fresh.ingest(write_jsonl(tmp_path / "first.jsonl", records[:12]))
    keyword = KeywordIndex()
    reads = len(counted)
    keyword.sync(store)
    assert keyword.full_reads == 1 and len(counted) == reads + 1
    assert len(keyword) == sum(m["n_chunks"] for m in store.all_articles().values())

    # More articles, in several writes; two removed; half of the first ones rewritten; the seed.
    synced_reads = []
    fresh.ingest(write_jsonl(tmp_path / "second.jsonl", records[12:]))
    synced_reads.append(len(counted))
    keyword.sync(store)
    synced_reads.append(len(counted))
    store.delete_article(records[13]["id"])
    store.delete_article(records[20]["id"])
    fresh.ingest(write_jsonl(tmp_path / "v2.jsonl", corpus_articles(30, seed=5, version=2)[:10]))
    fresh.ingest(SEEDS)
    synced_reads.append(len(counted))
    keyword.sync(store)
    synced_reads.append(len(counted))
    # (An ingest itself reads the chunk table once, looking for leftovers of an interrupted write.)
    assert keyword.full_reads == 1 and synced_reads[0] == synced_reads[1] and synced_reads[2] == synced_reads[3]
    assert keyword.stamp == store.stamp()
    live = store.all_articles()
    assert records[13]["id"] not in live and records[20]["id"] not in live
    assert len(keyword) == sum(m["n_chunks"] for m in live.values())
    assert all(keyword.get(c)[1]["article_id"] != records[13]["id"] for c, _ in keyword.search("plan number 13", 50))
    assert any("repeated on Friday" in keyword.get(c)[0] for c, _ in keyword.search("vote repeated Friday", 5))

    rebuilt = KeywordIndex()
    rebuilt.sync(store)
    assert_same_index(keyword, rebuilt, store)
    # The answer layer's statistics agree too.
    for t in ("council", "deir", "plan", "nosuchterm"):
        assert keyword.idf(t) == rebuilt.idf(t) and keyword.share(t) == rebuilt.share(t)
    seed_id = next(a for a in live if not a.startswith("gen-"))
    assert keyword.article_terms(seed_id) == rebuilt.article_terms(seed_id) and "ezzor" in keyword.article_terms(seed_id)


def test_a_gap_in_the_log_or_an_unlogged_write_reads_the_whole_store(fresh, tmp_path):
    records = corpus_articles(6, seed=9)
    fresh.ingest(write_jsonl(tmp_path / "a.jsonl", records[:3]))
    store = fresh.store
    keyword = KeywordIndex()
    keyword.sync(store)
    fresh.ingest(write_jsonl(tmp_path / "b.jsonl", records[3:4]))
    # The entry naming that write is gone (trimmed, say): the index can't know what changed.
    writer, n = store.stamp().split(":")
    store.state.delete(ids=[f"log:{writer}:{n}"])
    keyword.sync(store)
    assert keyword.full_reads == 2
    assert all(keyword.get(cid)[0] == doc for cid, doc, _ in store.chunks_of([records[3]["id"]])[records[3]["id"]])
    # A stamp written by a newsqa without the change log.
    fresh.ingest(write_jsonl(tmp_path / "c.jsonl", records[4:]))
    unit = [1.0] + [0.0] * (store.embedder.dim - 1)
    store.state.upsert(ids=["stamp"], embeddings=[unit], metadatas=[{"value": uuid.uuid4().hex}])
    keyword.sync(store)
    assert keyword.full_reads == 3
    rebuilt = KeywordIndex()
    rebuilt.sync(store)
    assert_same_index(keyword, rebuilt, store)


def test_an_article_half_written_is_not_searchable_until_its_write_is_logged(fresh, tmp_path):
    """The reader re-reads an article whose chunks and record disagree later, when its log entry comes."""
    records = corpus_articles(6, seed=4)
    fresh.ingest(write_jsonl(tmp_path / "a.jsonl", records[:5]))
    store = fresh.store
    keyword = KeywordIndex()
    keyword.sync(store)
    target = records[0]["id"]  # a long article: several chunks
    chunks = store.chunks_of([target])[target]
    assert len(chunks) > 1
    # Another process is mid-way through rewriting it: one chunk is gone, its record still there.
    store.chunks.delete(ids=[chunks[0][0]])
    keyword._refresh(store, [target])
    assert all(keyword.get(c)[1]["article_id"] != target for c in keyword._docs)
    # The rewrite finishes (the article removed, then written whole), each write logged.
    store.delete_article(target)
    fresh.ingest(write_jsonl(tmp_path / "again.jsonl", [records[0]]))
    keyword.sync(store)
    assert len(store.chunks_of([target])[target]) == len(chunks)
    assert sum(1 for c in keyword._docs if keyword.get(c)[1]["article_id"] == target) == len(chunks)


def test_many_removals_compact_the_postings_and_change_no_score():
    keyword, survivors = KeywordIndex(), KeywordIndex()
    words = "harbour ferry council vote bridge tram market budget school flood".split()
    for i in range(1600):
        text = " ".join(words[(i * j) % len(words)] for j in range(1, 2 + i % 9)) + f" item{i % 50}"
        meta = {"article_id": f"a{i // 4}", "index": i % 4, "title": f"Story {i // 4}"}
        keyword.add(f"c{i}", text, meta)
        if i // 4 >= 300:
            survivors.add(f"c{i}", text, meta)
    for a in range(300):
        keyword.remove_article(f"a{a}")
    assert keyword._chunks.n_slots < 1600  # compacted: dead slots dropped
    assert len(keyword) == len(survivors) == 400
    for q in ("harbour ferry", "budget item7", "Story 350 tram", "item49 school flood"):
        assert keyword.scores(q) == pytest.approx(survivors.scores(q), rel=1e-12)
        assert keyword.search(q, 20) == survivors.search(q, 20)
        assert keyword.search_articles(q, 10) == survivors.search_articles(q, 10)

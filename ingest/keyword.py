"""The keyword (BM25) index over chunks: title, outlet and date are searchable with the text.

Derived from the store's chunks, in memory, so every process that opens the same Chroma
(embedded or server) derives the same index. A write costs what it changes:

- Each chunk keeps its term counts; the index keeps, per term, a posting list (chunk slots and
  term frequencies in growable arrays) and its document frequency, plus the number of live
  chunks and the sum of their lengths. Adding or removing a chunk updates those counts; a
  removed chunk's slot is marked dead and skipped, and the postings are compacted once dead
  slots outnumber live ones (amortised: each removal pays for its share).
- BM25 weights depend on global counts (idf, average length), so they are not stored: each
  search computes them for the query's terms only, from the integer counts. The same chunks give
  bit-identical scores however the index got there (built at once, or by any order of adds and
  removes), and ties are broken by a hash of the chunk id, so every worker ranks alike.
- Articles as one document each (their header once, then every chunk) have postings of their
  own, brought up to date at the next article search for the articles whose chunks changed.

Catching up with the store (`sync`): every store write appends an entry to the store's change
log (ingest/store.py: per-writer sequence numbers naming the articles written) and moves the
store's write stamp. A question first compares the stamp (one small read); when it moved, the
index reads the log entries it has not applied and re-reads only those articles (their record
and chunks), so a worker catches up with a write made by any process at the cost of that write.
An article is searchable only when its record and all its chunks are read together. A gap in
the log (entries trimmed, a writer's log removed) or a stamp from a newsqa without the log
makes it read the whole store again, as a new worker does.
"""

from __future__ import annotations

import hashlib
import threading
from array import array
from collections import Counter
from typing import Any

import numpy as np

from .terms import terms
from .variants import VariantSource, expand_terms

REFRESH_BATCH = 100  # articles re-read from the store per call while catching up


def keyword_text(doc: str, meta: dict[str, Any]) -> str:
    """The text a chunk is keyword-indexed under."""
    parts = [meta.get("title") or "", meta.get("source") or "", meta.get("published_at") or "", doc]
    return "\n".join(p for p in parts if p)


def _tie_key(key: str) -> int:
    """A stable number for a document id: equal scores rank in the same order in every process."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big") >> 1


class _Postings:
    """BM25 counts of a changing set of documents: per-term postings over document slots.

    Slots are never reused: a removed document's slot is dead (its postings stay until
    `compact` drops them), so a posting list is only ever appended to.
    """

    def __init__(self) -> None:
        self.n_slots = 0
        self.lengths = np.zeros(0, dtype=np.float64)
        self.live = np.zeros(0, dtype=bool)
        self.ties = np.zeros(0, dtype=np.int64)
        self.n_live = 0
        self.total_length = 0  # an integer, so the average length is exact whatever the history
        self.df: dict[str, int] = {}
        self.postings: dict[str, tuple[array, array]] = {}

    def _grow(self) -> None:
        size = max(1024, 2 * len(self.lengths))
        for name in ("lengths", "live", "ties"):
            old = getattr(self, name)
            new = np.zeros(size, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def add(self, counts: Counter, key: str) -> int:
        """Index a document's term counts; returns its slot."""
        if self.n_slots == len(self.lengths):
            self._grow()
        slot = self.n_slots
        self.n_slots += 1
        length = sum(counts.values())
        self.lengths[slot], self.live[slot], self.ties[slot] = length, True, _tie_key(key)
        self.n_live += 1
        self.total_length += length
        for t, n in counts.items():
            self.df[t] = self.df.get(t, 0) + 1
            p = self.postings.get(t)
            if p is None:
                p = self.postings[t] = (array("i"), array("i"))
            p[0].append(slot)
            p[1].append(n)
        return slot

    def remove(self, slot: int, counts: Counter) -> None:
        self.live[slot] = False
        self.n_live -= 1
        self.total_length -= int(self.lengths[slot])
        for t in counts:
            left = self.df[t] - 1
            if left:
                self.df[t] = left
            else:
                del self.df[t]
                del self.postings[t]  # no live document holds it: nothing to skip later

    @property
    def dead(self) -> int:
        return self.n_slots - self.n_live

    def scores(self, query_terms: list[str], k1: float, b: float) -> np.ndarray | None:
        """BM25 score of every slot (0 for dead ones and non-matches), or None when no term matches."""
        n = self.n_live
        found = [t for t in query_terms if t in self.df]
        if not found or n == 0:
            return None
        avg = max(self.total_length / n, 1e-9)
        out = np.zeros(self.n_slots, dtype=np.float64)
        for t in found:
            rows_buf, tfs_buf = self.postings[t]
            rows = np.frombuffer(rows_buf, dtype=np.int32)
            tf = np.frombuffer(tfs_buf, dtype=np.int32).astype(np.float64)
            keep = self.live[rows]
            if not keep.all():
                rows, tf = rows[keep], tf[keep]
            df = float(self.df[t])
            idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
            norm = k1 * (1 - b + b * self.lengths[rows] / avg)
            out[rows] += idf * tf * (k1 + 1) / (tf + norm)  # a term lists a slot once: no repeated index
        return out


class KeywordIndex:
    """Okapi BM25 over chunk texts, updated chunk by chunk (see the module docstring)."""

    def __init__(self, k1: float = 1.2, b: float = 0.75, variants: VariantSource | None = None) -> None:
        self.k1, self.b = k1, b
        self.variants = variants  # other spellings of names (None: the shipped list)
        self._lock = threading.RLock()
        self.stamp: Any = None  # the store's write stamp this index is up to date with
        self._log: dict[str, int] | None = None  # the store's change log position (writer -> last entry applied)
        self.full_reads = 0  # times the whole store was read (the first sync, or a gap in the log)
        self._reset()

    def _reset(self) -> None:
        self._docs: dict[str, tuple[Counter, dict[str, Any], str, Counter]] = {}
        self._chunks = _Postings()
        self._slot: dict[str, int] = {}  # chunk id -> slot
        self._slot_ids: list[str | None] = []  # slot -> chunk id (None once removed)
        self._article_chunks: dict[str, dict[str, int]] = {}  # article id -> {chunk id: chunk index}
        self._articles = _Postings()
        self._article_slot: dict[str, tuple[int, Counter]] = {}
        self._article_order: dict[str, list[str]] = {}  # article id -> its chunk ids in text order
        self._article_slot_ids: list[str | None] = []
        self._dirty: set[str] = set()  # articles whose article-level counts are out of date
        self._article_terms: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._docs)

    # --- changing the index -------------------------------------------------------------------

    def add(self, chunk_id: str, doc: str, meta: dict[str, Any]) -> None:
        """Index a chunk (replacing one of the same id)."""
        self._add_entry(chunk_id, _entry(doc, meta))

    def _add_entry(self, chunk_id: str, entry: tuple[Counter, dict[str, Any], str, Counter]) -> None:
        with self._lock:
            if chunk_id in self._docs:
                self._remove_chunk(chunk_id)
            self._docs[chunk_id] = entry
            self._slot[chunk_id] = self._chunks.add(entry[0], chunk_id)
            self._slot_ids.append(chunk_id)
            aid = entry[1].get("article_id")
            self._article_chunks.setdefault(aid, {})[chunk_id] = int(entry[1].get("index") or 0)
            self._touched(aid)

    def _remove_chunk(self, chunk_id: str) -> None:
        counts, meta, _, _ = self._docs.pop(chunk_id)
        slot = self._slot.pop(chunk_id)
        self._chunks.remove(slot, counts)
        self._slot_ids[slot] = None
        aid = meta.get("article_id")
        siblings = self._article_chunks.get(aid)
        if siblings is not None:
            siblings.pop(chunk_id, None)
            if not siblings:
                del self._article_chunks[aid]
        self._touched(aid)
        if self._chunks.dead > max(1024, self._chunks.n_live):
            self._compact()

    def _touched(self, article_id: Any) -> None:
        self._dirty.add(article_id)
        self._article_terms.pop(article_id, None)

    def remove_article(self, article_id: str) -> None:
        """Drop an article's chunks (at the cost of its chunks, not of the index)."""
        with self._lock:
            for cid in list(self._article_chunks.get(article_id, ())):
                self._remove_chunk(cid)

    def clear(self) -> None:
        with self._lock:
            self._reset()
            self.stamp, self._log = None, None

    def _compact(self) -> None:
        """Re-lay the postings without dead slots (no text is read or split again)."""
        entries = list(self._docs.items())
        self._chunks = _Postings()
        self._slot, self._slot_ids = {}, []
        for cid, entry in entries:
            self._slot[cid] = self._chunks.add(entry[0], cid)
            self._slot_ids.append(cid)
        self._articles, self._article_slot, self._article_slot_ids, self._article_order = _Postings(), {}, [], {}
        self._dirty = set(self._article_chunks)

    def _update_articles(self) -> None:
        """Bring the article-level counts of the changed articles up to date."""
        if not self._dirty:
            return
        for aid in sorted(self._dirty, key=str):
            old = self._article_slot.pop(aid, None)
            self._article_order.pop(aid, None)
            if old is not None:
                self._articles.remove(*old)
                self._article_slot_ids[old[0]] = None
            chunks = self._article_chunks.get(aid)
            if not chunks:
                continue
            total: Counter = Counter()
            ordered = self._article_order[aid] = self._ordered(aid)
            for cid in ordered:
                full, _, _, header = self._docs[cid]
                total.update(full)
                total.subtract(header)
            total.update(self._docs[ordered[0]][3])  # the header once
            counts = +total
            self._article_slot[aid] = (self._articles.add(counts, str(aid)), counts)
            self._article_slot_ids.append(aid)
        self._dirty.clear()
        if self._articles.dead > max(1024, self._articles.n_live):
            self._articles, self._article_slot, self._article_slot_ids, self._article_order = _Postings(), {}, [], {}
            self._dirty = set(self._article_chunks)
            self._update_articles()

    def _ordered(self, article_id: Any) -> list[str]:
        """An article's chunk ids in text order."""
        chunks = self._article_chunks.get(article_id, {})
        return sorted(chunks, key=lambda c: (chunks[c], c))

    # --- following the store ------------------------------------------------------------------

    def sync(self, store: Any) -> None:
        """Catch up with the store's writes since the last sync (made by any process).

        Reads only the changed articles when the store's change log allows; the whole store on
        the first sync, or when the log cannot say what changed.
        """
        stamp = store.stamp()
        with self._lock:
            if stamp == self.stamp and self.stamp is not None:
                return
            if self._log is not None:
                found = store.changes_since(self._log, stamp)
                if found is not None:
                    self._log, changed = found
                    self._refresh(store, sorted(changed))
                    self.stamp = stamp
                    return
            log = store.log_position()  # read before the chunks: a later write is applied at the next sync
            self._reset()
            live = store.all_articles()  # chunks of an unfinished write are not searchable
            by_article: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
            for cid, doc, meta in store.iter_chunks():
                if meta.get("article_id") in live:
                    by_article.setdefault(meta["article_id"], []).append((cid, doc, meta))
            for aid, chunks in by_article.items():
                self._add_article(live[aid], chunks)
            self._log, self.stamp = log, stamp
            self.full_reads += 1

    def _refresh(self, store: Any, article_ids: list[str]) -> None:
        """Re-read these articles from the store: each is replaced, added or dropped."""
        for i in range(0, len(article_ids), REFRESH_BATCH):
            batch = article_ids[i : i + REFRESH_BATCH]
            records = store.article_meta(batch)
            chunks = store.chunks_of(list(records)) if records else {}
            for aid in batch:
                self.remove_article(aid)
                if aid in records:
                    self._add_article(records[aid], chunks.get(aid, []))

    def _add_article(self, record: dict[str, Any], chunks: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Index an article's chunks if they are all there (a write in progress is left for its log entry)."""
        if len(chunks) != record.get("n_chunks", len(chunks)):
            return
        for cid, doc, meta in chunks:
            self._add_entry(cid, _entry(doc, meta))

    # --- reading ------------------------------------------------------------------------------

    def get(self, chunk_id: str) -> tuple[str, dict[str, Any]]:
        """(text, metadata) of an indexed chunk."""
        _, meta, doc, _ = self._docs[chunk_id]
        return doc, meta

    def chunk_terms(self, chunk_id: str) -> set[str]:
        """The terms of an indexed chunk's text (without its header); empty if unknown."""
        entry = self._docs.get(chunk_id)
        if entry is None:
            return set()
        return entry[0].keys() - entry[3].keys()

    def article_terms(self, article_id: str) -> set[str]:
        """Every term of an article's chunks (with its title, outlet and date)."""
        with self._lock:
            cached = self._article_terms.get(article_id)
            if cached is None:
                cached = set()
                for cid in self._article_chunks.get(article_id, ()):
                    cached |= self._docs[cid][0].keys()
                self._article_terms[article_id] = cached
            return cached

    def _counts(self, term: str) -> tuple[int, float]:
        """(indexed chunks, chunks holding an already stemmed term)."""
        with self._lock:
            return self._chunks.n_live, float(self._chunks.df.get(term, 0))

    def idf(self, term: str) -> float:
        """Inverse document frequency of an (already stemmed) term; unseen terms get the maximum."""
        n, df = self._counts(term)
        return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))

    def share(self, term: str) -> float:
        """Share of the indexed chunks that hold an (already stemmed) term; 0.0 for an empty index."""
        n, df = self._counts(term)
        return df / n if n else 0.0

    def query_terms(self, query: str) -> list[str]:
        """The index terms a query searches for."""
        # Other spellings of the query's names count too (Deir ez-Zor finds Deir Ezzor).
        return list(dict.fromkeys(expand_terms(terms(query), self.variants)))

    def scores(self, query: str) -> dict[str, float]:
        """BM25 score of every matching chunk, by chunk id (for checks and benchmarks)."""
        with self._lock:
            s = self._chunks.scores(self.query_terms(query), self.k1, self.b)
            return {} if s is None else {self._slot_ids[i]: float(s[i]) for i in np.flatnonzero(s > 0)}

    def article_scores(self, query: str) -> dict[str, float]:
        """BM25 score of every matching article (as one document), by article id."""
        with self._lock:
            self._update_articles()
            s = self._articles.scores(self.query_terms(query), self.k1, self.b)
            return {} if s is None else {self._article_slot_ids[i]: float(s[i]) for i in np.flatnonzero(s > 0)}

    def search(self, query: str, k: int, allow: Any = None) -> list[tuple[str, float]]:
        """Top-k (chunk_id, score); `allow(meta) -> bool` filters by metadata."""
        with self._lock:
            scores = self._chunks.scores(self.query_terms(query), self.k1, self.b)
            if scores is None:
                return []
            ids = self._slot_ids
            top = _top(scores, self._chunks.ties, k, allow, lambda i: self._docs[ids[i]][1])
            return [(ids[i], s) for i, s in top]

    def search_articles(self, query: str, k: int, allow: Any = None) -> list[tuple[str, float, str]]:
        """Top-k articles scored as whole documents: (article_id, score, best chunk id)."""
        with self._lock:
            self._update_articles()
            qterms = self.query_terms(query)
            scores = self._articles.scores(qterms, self.k1, self.b)
            if scores is None:
                return []
            chunk_scores = self._chunks.scores(qterms, self.k1, self.b)
            aids, order = self._article_slot_ids, self._article_order
            out = []
            for i, s in _top(scores, self._articles.ties, k, allow, lambda i: self._docs[order[aids[i]][0]][1]):
                ordered = order[aids[i]]
                best = ordered[0]
                if chunk_scores is not None:
                    slots = [self._slot[c] for c in ordered]
                    best = ordered[int(np.argmax(chunk_scores[slots]))]  # the first of equals, in text order
                out.append((aids[i], s, best))
            return out


def _top(scores: np.ndarray, ties: np.ndarray, k: int, allow: Any, meta_of: Any) -> list[tuple[int, float]]:
    """(slot, score) of the k best positive scores whose metadata `allow` accepts; equal scores by tie key."""
    rows = np.flatnonzero(scores > 0)
    if allow is None and len(rows) > k > 0:
        kth = np.partition(scores[rows], len(rows) - k)[len(rows) - k]
        rows = rows[scores[rows] >= kth]  # keeps every row tied with the k-th, so ties order below
    order = rows[np.lexsort((ties[rows], -scores[rows]))]
    out = []
    for i in order:
        if len(out) >= k:
            break
        if allow is None or allow(meta_of(i)):
            out.append((int(i), float(scores[i])))
    return out


def _entry(doc: str, meta: dict[str, Any]) -> tuple[Counter, dict[str, Any], str, Counter]:
    """(terms of the chunk with its header, metadata, text, terms of the header alone)."""
    header = Counter(terms(keyword_text("", meta)))
    return Counter(terms(doc)) + header, meta, doc, header

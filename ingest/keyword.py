"""The keyword (BM25) index over chunks: title, outlet and date are searchable with the text.

Built from the store's chunks, so every process that opens the same Chroma (embedded or server)
derives the same index; `sync()` rebuilds it when the store's write stamp changes.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import numpy as np
from scipy import sparse

from .terms import terms
from .variants import VariantSource, expand_terms


def keyword_text(doc: str, meta: dict[str, Any]) -> str:
    """The text a chunk is keyword-indexed under."""
    parts = [meta.get("title") or "", meta.get("source") or "", meta.get("published_at") or "", doc]
    return "\n".join(p for p in parts if p)


class KeywordIndex:
    """Okapi BM25 over chunk texts, held as a sparse (chunks x terms) weight matrix."""

    def __init__(self, k1: float = 1.2, b: float = 0.75, variants: VariantSource | None = None) -> None:
        self.k1, self.b = k1, b
        self.variants = variants  # other spellings of names (None: the shipped list)
        self._docs: dict[str, tuple[Counter, dict[str, Any], str]] = {}
        self._matrix: sparse.csc_matrix | None = None
        self._ids: list[str] = []
        self._vocab: dict[str, int] = {}
        self._df: np.ndarray = np.zeros(0)
        self._article_matrix: sparse.csc_matrix | None = None
        self._article_ids: list[str] = []
        self._article_rows: list[np.ndarray] = []
        self._lock = threading.RLock()
        self._article_terms: dict[str, set[str]] = {}
        self.stamp: Any = None

    def __len__(self) -> int:
        return len(self._docs)

    def add(self, chunk_id: str, doc: str, meta: dict[str, Any]) -> None:
        with self._lock:
            self._docs[chunk_id] = _entry(doc, meta)
            self._matrix = None
            self._article_terms.clear()

    def remove_article(self, article_id: str) -> None:
        with self._lock:
            for cid in [c for c, entry in self._docs.items() if entry[1].get("article_id") == article_id]:
                del self._docs[cid]
            self._matrix = None
            self._article_terms.clear()

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
                for counts, meta, _, _ in self._docs.values():
                    if meta.get("article_id") == article_id:
                        cached |= counts.keys()
                self._article_terms[article_id] = cached
            return cached

    def sync(self, store: Any) -> None:
        """Rebuild from the store if it changed since the last sync (in any process)."""
        stamp = store.stamp()
        with self._lock:
            if stamp == self.stamp and self.stamp is not None:
                return
            self._docs.clear()
            live = set(store.all_articles())  # chunks of an unfinished write are not searchable
            for cid, doc, meta in store.iter_chunks():
                if meta.get("article_id") not in live:
                    continue
                self._docs[cid] = _entry(doc, meta)
            self._matrix = None
            self._article_terms.clear()
            self.stamp = stamp

    def clear(self) -> None:
        with self._lock:
            self._docs.clear()
            self._matrix = None
            self._article_terms.clear()

    def _build(self) -> None:
        self._ids = list(self._docs)
        vocab: dict[str, int] = {}
        self._matrix, self._df = self._bm25([self._docs[c][0] for c in self._ids], vocab)
        # Articles as one document each: the header (title, outlet, date) once, then every chunk.
        rows: dict[str, list[int]] = {}
        for r, cid in enumerate(self._ids):
            rows.setdefault(self._docs[cid][1].get("article_id"), []).append(r)
        self._article_ids = list(rows)
        self._article_rows = [np.asarray(rows[a], dtype=np.int64) for a in self._article_ids]
        article_counts = []
        for a in self._article_ids:
            total: Counter = Counter()
            first = self._docs[self._ids[rows[a][0]]]
            for r in rows[a]:
                full, _, _, header = self._docs[self._ids[r]]
                total.update(full)
                total.subtract(header)
            total.update(first[3])
            article_counts.append(+total)
        self._article_matrix, _ = self._bm25(article_counts, vocab)
        self._vocab = vocab

    def _bm25(self, docs: list[Counter], vocab: dict[str, int]) -> tuple[sparse.csc_matrix, np.ndarray]:
        """BM25 term weights of `docs` (rows) over `vocab` (grown in place), and document frequencies."""
        rows, cols, tfs, lengths = [], [], [], []
        for r, counts in enumerate(docs):
            lengths.append(sum(counts.values()))
            for t, n in counts.items():
                rows.append(r)
                cols.append(vocab.setdefault(t, len(vocab)))
                tfs.append(n)
        n_docs = len(docs)
        lengths_arr = np.asarray(lengths, dtype=np.float64)
        avg = lengths_arr.mean() if n_docs else 1.0
        rows_arr = np.asarray(rows, dtype=np.int64)
        cols_arr = np.asarray(cols, dtype=np.int64)
        tf = np.asarray(tfs, dtype=np.float64)
        df = np.bincount(cols_arr, minlength=len(vocab)).astype(np.float64)
        idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
        norm = self.k1 * (1 - self.b + self.b * lengths_arr[rows_arr] / max(avg, 1e-9)) if n_docs else tf
        weights = idf[cols_arr] * tf * (self.k1 + 1) / (tf + norm)
        return sparse.csc_matrix((weights, (rows_arr, cols_arr)), shape=(n_docs, len(vocab))), df

    def _counts(self, term: str) -> tuple[int, float]:
        """(indexed chunks, chunks holding an already stemmed term), building the index if needed."""
        with self._lock:
            if self._matrix is None:
                self._build()
            j = self._vocab.get(term)
            return len(self._ids), float(self._df[j]) if j is not None and j < len(self._df) else 0.0

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

    def _scores(self, matrix: sparse.csc_matrix, query: str) -> np.ndarray | None:
        cols = [self._vocab[t] for t in self.query_terms(query) if t in self._vocab]
        if not cols or matrix.shape[0] == 0:
            return None
        return np.asarray(matrix[:, cols].sum(axis=1)).ravel()

    def search(self, query: str, k: int, allow: Any = None) -> list[tuple[str, float]]:
        """Top-k (chunk_id, score); `allow(meta) -> bool` filters by metadata."""
        with self._lock:
            if self._matrix is None:
                self._build()
            scores = self._scores(self._matrix, query)
            if scores is None:
                return []
            return [(self._ids[i], s) for i, s in _top(scores, k, allow, lambda i: self._docs[self._ids[i]][1])]

    def search_articles(self, query: str, k: int, allow: Any = None) -> list[tuple[str, float, str]]:
        """Top-k articles scored as whole documents: (article_id, score, best chunk id)."""
        with self._lock:
            if self._matrix is None:
                self._build()
            scores = self._scores(self._article_matrix, query)
            if scores is None:
                return []
            chunk_scores = self._scores(self._matrix, query)
            out = []
            for i, s in _top(scores, k, allow, lambda i: self._docs[self._ids[self._article_rows[i][0]]][1]):
                rows = self._article_rows[i]
                best = rows[int(np.argmax(chunk_scores[rows]))] if chunk_scores is not None else rows[0]
                out.append((self._article_ids[i], s, self._ids[best]))
            return out


def _top(scores: np.ndarray, k: int, allow: Any, meta_of: Any) -> list[tuple[int, float]]:
    """(row, score) of the k best positive scores whose metadata `allow` accepts."""
    if allow is None:
        n = min(k, len(scores))
        part = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        order = part[np.argsort(-scores[part])]
    else:
        order = np.argsort(-scores)
    out = []
    for i in order:
        if scores[i] <= 0 or len(out) >= k:
            break
        if allow is None or allow(meta_of(i)):
            out.append((int(i), float(scores[i])))
    return out


def _entry(doc: str, meta: dict[str, Any]) -> tuple[Counter, dict[str, Any], str, Counter]:
    """(terms of the chunk with its header, metadata, text, terms of the header alone)."""
    header = Counter(terms(keyword_text("", meta)))
    return Counter(terms(doc)) + header, meta, doc, header

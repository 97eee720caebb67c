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
from .variants import expand_terms


def keyword_text(doc: str, meta: dict[str, Any]) -> str:
    """The text a chunk is keyword-indexed under."""
    parts = [meta.get("title") or "", meta.get("source") or "", meta.get("published_at") or "", doc]
    return "\n".join(p for p in parts if p)


class KeywordIndex:
    """Okapi BM25 over chunk texts, held as a sparse (chunks x terms) weight matrix."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._docs: dict[str, tuple[Counter, dict[str, Any], str]] = {}
        self._matrix: sparse.csc_matrix | None = None
        self._ids: list[str] = []
        self._vocab: dict[str, int] = {}
        self._df: np.ndarray = np.zeros(0)
        self._lock = threading.RLock()
        self._article_terms: dict[str, set[str]] = {}
        self.stamp: Any = None

    def __len__(self) -> int:
        return len(self._docs)

    def add(self, chunk_id: str, doc: str, meta: dict[str, Any]) -> None:
        with self._lock:
            self._docs[chunk_id] = (Counter(terms(keyword_text(doc, meta))), meta, doc)
            self._matrix = None
            self._article_terms.clear()

    def remove_article(self, article_id: str) -> None:
        with self._lock:
            for cid in [c for c, (_, m, _) in self._docs.items() if m.get("article_id") == article_id]:
                del self._docs[cid]
            self._matrix = None
            self._article_terms.clear()

    def get(self, chunk_id: str) -> tuple[str, dict[str, Any]]:
        """(text, metadata) of an indexed chunk."""
        _, meta, doc = self._docs[chunk_id]
        return doc, meta

    def article_terms(self, article_id: str) -> set[str]:
        """Every term of an article's chunks (with its title, outlet and date)."""
        with self._lock:
            cached = self._article_terms.get(article_id)
            if cached is None:
                cached = set()
                for counts, meta, _ in self._docs.values():
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
                self._docs[cid] = (Counter(terms(keyword_text(doc, meta))), meta, doc)
            self._matrix = None
            self._article_terms.clear()
            self.stamp = stamp

    def clear(self) -> None:
        with self._lock:
            self._docs.clear()
            self._matrix = None
            self._article_terms.clear()

    def _build(self) -> None:
        vocab: dict[str, int] = {}
        rows, cols, tfs, lengths = [], [], [], []
        self._ids = list(self._docs)
        for r, cid in enumerate(self._ids):
            counts = self._docs[cid][0]
            lengths.append(sum(counts.values()))
            for t, n in counts.items():
                rows.append(r)
                cols.append(vocab.setdefault(t, len(vocab)))
                tfs.append(n)
        n_docs = len(self._ids)
        lengths_arr = np.asarray(lengths, dtype=np.float64)
        avg = lengths_arr.mean() if n_docs else 1.0
        rows_arr = np.asarray(rows, dtype=np.int64)
        tf = np.asarray(tfs, dtype=np.float64)
        df = np.bincount(np.asarray(cols, dtype=np.int64), minlength=len(vocab)).astype(np.float64)
        idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
        norm = self.k1 * (1 - self.b + self.b * lengths_arr[rows_arr] / max(avg, 1e-9)) if n_docs else tf
        weights = idf[np.asarray(cols, dtype=np.int64)] * tf * (self.k1 + 1) / (tf + norm)
        self._matrix = sparse.csc_matrix((weights, (rows_arr, cols)), shape=(n_docs, len(vocab)))
        self._vocab, self._df = vocab, df

    def idf(self, term: str) -> float:
        """Inverse document frequency of an (already stemmed) term; unseen terms get the maximum."""
        with self._lock:
            if self._matrix is None:
                self._build()
            n = len(self._ids)
            j = self._vocab.get(term)
            df = self._df[j] if j is not None else 0.0
            return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))

    def search(self, query: str, k: int, allow: Any = None) -> list[tuple[str, float]]:
        """Top-k (chunk_id, score); `allow(meta) -> bool` filters by metadata."""
        with self._lock:
            if self._matrix is None:
                self._build()
            # Other spellings of the query's names count too (Deir ez-Zor finds Deir Ezzor).
            cols = [self._vocab[t] for t in set(expand_terms(terms(query))) if t in self._vocab]
            if not cols or not self._ids:
                return []
            scores = np.asarray(self._matrix[:, cols].sum(axis=1)).ravel()
            order = np.argsort(-scores)
            out = []
            for i in order:
                if scores[i] <= 0 or len(out) >= k:
                    break
                cid = self._ids[i]
                if allow is None or allow(self._docs[cid][1]):
                    out.append((cid, float(scores[i])))
            return out

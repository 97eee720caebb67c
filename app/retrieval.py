"""Finding passages: dense (MiniLM via Chroma) and keyword (BM25) search, fused by rank."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ingest.keyword import KeywordIndex
from ingest.store import Passage, Store, passage_from_record
from ingest.terms import fold


@dataclass
class Filters:
    """Per-question limits: a date range (inclusive, ISO dates) and outlets."""

    date_from: str | None = None
    date_to: str | None = None
    sources: list[str] = field(default_factory=list)

    def where(self) -> dict[str, Any] | None:
        """The same limits as a Chroma `where` clause."""
        clauses: list[dict[str, Any]] = []
        if self.date_from:
            clauses.append({"day": {"$gte": _day(self.date_from)}})
        if self.date_to:
            clauses.append({"day": {"$lte": _day(self.date_to)}})
        if self.sources:
            clauses.append({"source": {"$in": list(self.sources)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def allows(self, meta: dict[str, Any]) -> bool:
        """The same limits as a predicate on chunk metadata (for the keyword index)."""
        day = meta.get("day")
        if self.date_from and (day is None or day < _day(self.date_from)):
            return False
        if self.date_to and (day is None or day > _day(self.date_to)):
            return False
        return not self.sources or meta.get("source") in self.sources

    def __bool__(self) -> bool:
        return bool(self.date_from or self.date_to or self.sources)


def _day(iso: str) -> int:
    return int(iso[:10].replace("-", ""))


def resolve_relative_dates(question: str, today: date) -> Filters:
    """Date limits implied by the question ("yesterday", "this week", "last month"), else none."""
    q = fold(question)
    if "yesterday" in q:
        d = today - timedelta(days=1)
        return Filters(d.isoformat(), d.isoformat())
    if re.search(r"\btoday\b", q):
        return Filters(today.isoformat(), today.isoformat())
    if re.search(r"\b(this|past) week\b", q):
        return Filters((today - timedelta(days=7)).isoformat(), today.isoformat())
    if re.search(r"\blast week\b", q):
        return Filters((today - timedelta(days=14)).isoformat(), today.isoformat())
    if re.search(r"\b(this|past) month\b", q):
        return Filters((today - timedelta(days=31)).isoformat(), today.isoformat())
    return Filters()


def _window(query: str, today: date | str | None, filters: Filters) -> Filters | None:
    """The relative-date window of the question within the hard filters, or None."""
    if today is None:
        return None
    day = date.fromisoformat(today[:10]) if isinstance(today, str) else today
    window = resolve_relative_dates(query, day)
    if not window:
        return None
    return Filters(
        max((d[:10] for d in (window.date_from, filters.date_from) if d), default=None),
        min((d[:10] for d in (window.date_to, filters.date_to) if d), default=None),
        list(filters.sources),
    )


class Retriever:
    """Hybrid search: dense and BM25 lists fused by reciprocal rank, one or two chunks per article."""

    def __init__(
        self,
        store: Store,
        keyword: KeywordIndex | None = None,
        depth: int = 40,
        rrf_k: int = 60,
        per_article: int = 2,
        dense_weight: float = 1.0,
        keyword_weight: float = 1.0,
        recency_weight: float = 1.0,
    ) -> None:
        self.store = store
        self.keyword = keyword if keyword is not None else KeywordIndex()
        self.depth = depth
        self.rrf_k = rrf_k
        self.per_article = per_article
        self.dense_weight = dense_weight
        self.keyword_weight = keyword_weight
        self.recency_weight = recency_weight

    def retrieve(
        self, query: str, k: int = 6, filters: Filters | None = None, *, today: date | str | None = None
    ) -> list[Passage]:
        """The k best passages for `query`, best first, within `filters`.

        Args:
            query: the question (or the question with the turn it follows up).
            k: passages to return.
            filters: hard limits (dates, outlets), applied in the store and keyword queries.
            today: the date the question is asked on; relative dates in the question
                ("yesterday", "this week") then favour articles of that window without excluding others.
        """
        filters = filters or Filters()
        vector = self.store.embedder.embed([query])[0]
        self.keyword.sync(self.store)
        scores: dict[str, float] = {}
        passages: dict[str, Passage] = {}
        searches = [(filters, 1.0)]
        window = _window(query, today, filters)
        if window is not None:
            searches.append((window, self.recency_weight))
        for limits, weight in searches:
            dense = self.store.query(vector, self.depth, where=limits.where())
            sparse_hits = self.keyword.search(query, self.depth, allow=limits.allows if limits else None)
            for rank, p in enumerate(dense):
                passages.setdefault(p.chunk_id, p)
                scores[p.chunk_id] = scores.get(p.chunk_id, 0.0) + weight * self.dense_weight / (self.rrf_k + rank + 1)
            for rank, (cid, _) in enumerate(sparse_hits):
                if cid not in passages:
                    doc, meta = self.keyword.get(cid)
                    passages[cid] = passage_from_record(cid, doc, meta, 0.0)
                scores[cid] = scores.get(cid, 0.0) + weight * self.keyword_weight / (self.rrf_k + rank + 1)
        ranked = sorted(scores, key=lambda c: -scores[c])
        out: list[Passage] = []
        per_article: dict[str, int] = {}
        seen_text: set[str] = set()
        for cid in ranked:
            p = passages[cid]
            key = " ".join(p.text.lower().split())
            if key in seen_text or per_article.get(p.article_id, 0) >= self.per_article:
                continue
            seen_text.add(key)
            per_article[p.article_id] = per_article.get(p.article_id, 0) + 1
            p.score = scores[cid]
            out.append(p)
            if len(out) >= k:
                break
        return out


"""Finding passages: dense (MiniLM via Chroma) and keyword (BM25) search, fused by rank."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ingest.keyword import KeywordIndex
from ingest.store import Passage, Store, day_number, passage_from_record
from ingest.terms import MONTHS, fold


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
            clauses.append({"day": {"$gte": day_number(self.date_from)}})
        if self.date_to:
            clauses.append({"day": {"$lte": day_number(self.date_to)}})
        if self.sources:
            clauses.append({"source": {"$in": list(self.sources)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def allows(self, meta: dict[str, Any]) -> bool:
        """The same limits as a predicate on chunk metadata (for the keyword index)."""
        day = meta.get("day")
        if self.date_from and (day is None or day < day_number(self.date_from)):
            return False
        if self.date_to and (day is None or day > day_number(self.date_to)):
            return False
        return not self.sources or meta.get("source") in self.sources

    def __bool__(self) -> bool:
        return bool(self.date_from or self.date_to or self.sources)


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
    # "on Monday": news names the days of the week just gone.
    if re.search(r"\b(on|last|this|past) (monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", q):
        return Filters((today - timedelta(days=7)).isoformat(), today.isoformat())
    if re.search(r"\bthis year\b", q):
        return Filters(date(today.year, 1, 1).isoformat(), today.isoformat())
    if re.search(r"\blast year\b", q):
        return Filters(date(today.year - 1, 1, 1).isoformat(), date(today.year - 1, 12, 31).isoformat())
    # "in January" with no year: the latest January up to today, and the month after it, when
    # the story is still reported ("May" alone is usually the verb).
    m = re.search(rf"\b(?:in|since|during|early|late|mid|last) ({'|'.join(MONTHS)})\b(?!,? \d)", q)
    if m:
        month = MONTHS[m.group(1)]
        year = today.year if month <= today.month else today.year - 1
        end = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1) - timedelta(days=1)
        return Filters(date(year, month, 1).isoformat(), min(end, today).isoformat())
    return Filters()


def _window(query: str, today: date | str | None, filters: Filters) -> Filters | None:
    """The relative-date window of the question within the hard filters, or None."""
    if today is None:
        return None
    window = resolve_relative_dates(query, _as_date(today))
    if not window:
        return None
    return Filters(
        max((d[:10] for d in (window.date_from, filters.date_from) if d), default=None),
        min((d[:10] for d in (window.date_to, filters.date_to) if d), default=None),
        list(filters.sources),
    )


# Questions about the present state of things: newer articles are more likely to hold the answer.
_CURRENT = re.compile(
    r"\b(latest|currently|current|now|still|recent|recently|newest|most recent|so far|to date|as of)\b"
)


Reranker = Callable[[str, list[Passage]], list[Passage]]


class Retriever:
    """Hybrid search: dense and BM25 lists fused by reciprocal rank, a few chunks per article.

    Three ranked lists are fused: dense chunks (MiniLM in Chroma), BM25 chunks, and BM25 articles
    (each article's text as one document, standing in for its best chunk), so an article that is
    relevant as a whole is not lost when its facts are spread over several chunks. A small
    fusion constant (10, not the customary 60) lets a first place in one list count: measured on
    the dev questions of ../shared/eval (BENCHMARKS.md). Near-duplicate passages are collapsed.

    Args:
        store: the index.
        keyword: the keyword index (built from the store when absent).
        depth: candidates taken from each list.
        rrf_k: the reciprocal-rank-fusion constant.
        per_article: at most this many chunks of one article.
        dense_weight / keyword_weight / article_weight: weights of the lists in the fusion.
        recency_weight: weight of the extra searches limited to the question's relative-date
            window ("this week"), and of the newness prior for "latest"/"currently" questions.
        duplicate_jaccard: passages whose term sets overlap this much are one passage.
        news_weight: weight of the newness prior for any question with a `today` (news asked
            about on a date is usually recent news); 0 turns it off.
        window_depth: the dense list of a relative-date window is drawn from this many times
            `depth` nearest chunks.
        later_weight: how much lower an article dated after `today` (by more than a day) ranks,
            in first places of one list; 0 turns it off.
        reranker: an optional second stage, `(query, passages) -> passages`, given the
            fused candidates (best first) and returning them reordered.
    """

    def __init__(
        self,
        store: Store,
        keyword: KeywordIndex | None = None,
        depth: int = 40,
        rrf_k: int = 10,
        per_article: int = 2,
        dense_weight: float = 1.0,
        keyword_weight: float = 1.0,
        article_weight: float = 1.0,
        recency_weight: float = 0.5,
        duplicate_jaccard: float = 0.8,
        news_weight: float = 0.75,
        later_weight: float = 1.0,
        window_depth: int = 4,
        reranker: Reranker | None = None,
    ) -> None:
        self.store = store
        self.keyword = keyword if keyword is not None else KeywordIndex()
        self.depth = depth
        self.rrf_k = rrf_k
        self.per_article = per_article
        self.dense_weight = dense_weight
        self.keyword_weight = keyword_weight
        self.article_weight = article_weight
        self.recency_weight = recency_weight
        self.duplicate_jaccard = duplicate_jaccard
        self.news_weight = news_weight
        self.later_weight = later_weight
        self.window_depth = window_depth
        self.reranker = reranker

    def retrieve(
        self, query: str, k: int = 6, filters: Filters | None = None, *, today: date | str | None = None
    ) -> list[Passage]:
        """The k best passages for `query`, best first, within `filters`.

        Args:
            query: the question (or the question with the turn it follows up).
            k: passages to return.
            filters: hard limits (dates, outlets), applied in the store and keyword queries.
            today: the date the question is asked on; relative dates in the question
                ("yesterday", "this week") then favour articles of that window, and "latest" or
                "currently" favours newer articles, without excluding others.
        """
        filters = filters or Filters()
        vector = self.store.embedder.embed([query])[0]
        self.keyword.sync(self.store)
        fused = Fusion(self.rrf_k)
        window = _window(query, today, filters)
        # The window's dense list is taken from a deeper search within the hard filters, not from
        # a second filtered search: Chroma's date filter costs about 250 ms on 64,000 chunks.
        deep = self.store.query(vector, self.depth * (self.window_depth if window else 1), where=filters.where())
        searches = [(filters, 1.0, deep[: self.depth])]
        if window is not None:
            searches.append((window, self.recency_weight, [p for p in deep if window.allows(_meta(p))][: self.depth]))
        for limits, weight, dense in searches:
            allow = limits.allows if limits else None
            fused.add_chunks([p.chunk_id for p in dense], weight * self.dense_weight, dense)
            hits = self.keyword.search(query, self.depth, allow=allow)
            fused.add_chunks([cid for cid, _ in hits], weight * self.keyword_weight)
            articles = self.keyword.search_articles(query, self.depth, allow=allow)
            fused.add_articles([(aid, cid) for aid, _, cid in articles], weight * self.article_weight)
        if today is not None:
            ages = self._ages(fused, today)
            prior = self.recency_weight if _CURRENT.search(fold(query)) else self.news_weight
            if prior:
                fused.add_prior({cid: 0.5 ** (max(age, 0) / 30.0) for cid, age in ages.items() if age >= -1}, prior)
            # An article dated after the day the question is asked on is news the asker could not
            # have meant; it is ranked lower, not dropped, since its date may be wrong.
            if self.later_weight:
                fused.add_prior({cid: 1.0 for cid, age in ages.items() if age < -1}, -self.later_weight)
        ranked = fused.ranked(self._passage)
        if self.reranker is not None:
            ranked = self.reranker(query, ranked[: max(4 * k, 20)])
        return self._select(ranked, k)

    def _passage(self, chunk_id: str) -> Passage:
        doc, meta = self.keyword.get(chunk_id)
        return passage_from_record(chunk_id, doc, meta, 0.0)

    def _ages(self, fused: Fusion, today: date | str) -> dict[str, int]:
        """Each dated candidate's age in days on `today` (negative when published after it)."""
        day = _as_date(today)
        out = {}
        for cid in fused.candidates():
            # Dense hits may be newer than the keyword index (an ingest in progress): use their own metadata.
            known = fused.known.get(cid)
            published = known.published_at if known is not None else self.keyword.get(cid)[1].get("published_at")
            if not published:
                continue
            try:
                age = (day - date.fromisoformat(published[:10])).days
            except ValueError:
                continue
            out[cid] = age
        return out

    def _select(self, ranked: list[Passage], k: int) -> list[Passage]:
        """The best k, at most `per_article` per article, near-duplicates collapsed."""
        out: list[Passage] = []
        kept_terms: list[set[str]] = []
        per_article: dict[str, int] = {}
        for p in ranked:
            if per_article.get(p.article_id, 0) >= self.per_article:
                continue
            words = set(self.keyword.chunk_terms(p.chunk_id)) or set(p.text.lower().split())
            if any(_jaccard(words, w) >= self.duplicate_jaccard for w in kept_terms):
                continue
            kept_terms.append(words)
            per_article[p.article_id] = per_article.get(p.article_id, 0) + 1
            out.append(p)
            if len(out) >= k:
                break
        return out


class Fusion:
    """Weighted reciprocal-rank fusion of chunk lists and article lists.

    An article list ranks articles, each with the chunk that stands for it; its score goes to
    that chunk. A prior adds `weight * value / (rrf_k + 1)` per chunk, i.e. at most what a
    first place in one list is worth.
    """

    def __init__(self, rrf_k: int = 10) -> None:
        self.rrf_k = rrf_k
        self.scores: dict[str, float] = {}
        self.known: dict[str, Passage] = {}

    def add_chunks(self, chunk_ids: list[str], weight: float, passages: list[Passage] | None = None) -> None:
        for p in passages or []:
            self.known.setdefault(p.chunk_id, p)
        for rank, cid in enumerate(chunk_ids):
            self.scores[cid] = self.scores.get(cid, 0.0) + weight / (self.rrf_k + rank + 1)

    def add_articles(self, ranked: list[tuple[str, str]], weight: float) -> None:
        self.add_chunks([cid for _, cid in ranked], weight)

    def add_prior(self, values: dict[str, float], weight: float) -> None:
        for cid, v in values.items():
            if cid in self.scores:
                self.scores[cid] += weight * v / (self.rrf_k + 1)

    def candidates(self) -> list[str]:
        return list(self.scores)

    def ranked(self, load: Callable[[str], Passage]) -> list[Passage]:
        """Candidates best first, as passages carrying their fused score."""
        out = []
        for cid in sorted(self.scores, key=lambda c: -self.scores[c]):
            p = self.known.get(cid) or load(cid)
            p.score = self.scores[cid]
            out.append(p)
        return out


def _meta(p: Passage) -> dict[str, Any]:
    """The chunk metadata `Filters.allows` reads, from a passage."""
    return {"day": day_number(p.published_at), "source": p.source}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _as_date(value: date | str) -> date:
    return date.fromisoformat(value[:10]) if isinstance(value, str) else value

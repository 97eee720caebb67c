"""Syndicated copies: one wire story republished by several outlets is one article.

Exact copies are caught by the content hash. Near-identical ones (another headline, a byline,
a trimmed last paragraph, the outlet's own furniture) are caught here by the resemblance of
their word 5-gram shingle sets (Jaccard). Candidates come from the article centroids in the
index, so each new article is compared with a handful of neighbours, never with all.

Why 5-word shingles and 0.8 (measured by bench/syndication.py, see BENCHMARKS.md): among the
6,200 articles of the shared eval corpora no two different texts reach 0.8 (the closest are one
outlet's rewrites of an evolving story, 0.52 to 0.72, which carry newer facts and must stay
separate), while a copy with its own byline and footer added keeps 0.77 to 0.99 (median above
0.85). Copies trimmed by more than about a tenth stay separate articles: the price of never
swallowing an update.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from .models import Article
from .terms import words

SHINGLE_WORDS = 5
THRESHOLD = 0.8  # Jaccard resemblance at or above which two texts are one story
CANDIDATE_SIMILARITY = 0.8  # centroid cosine below which an article is not worth comparing
CANDIDATES = 5
FIELD = "also_published_by"  # the article record's metadata: a JSON list of Copy dicts


def shingles(text: str, n: int = SHINGLE_WORDS) -> frozenset[int]:
    """Hashes of the text's overlapping n-word runs (folded words, so case and accents don't matter)."""
    w = words(text)
    if len(w) < n:
        return frozenset([hash(tuple(w))]) if w else frozenset()
    # zip of the shifted lists makes the same n-tuples as slicing, without a slice per position.
    return frozenset(map(hash, zip(*(w[k:] for k in range(n)))))


def resemblance(a: frozenset[int], b: frozenset[int]) -> float:
    """Jaccard similarity of two shingle sets (0.0 when either is empty)."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


@dataclass
class Copy:
    """Where else a story was published."""

    id: str
    source: str | None = None
    url: str | None = None
    title: str | None = None
    published_at: str | None = None

    @classmethod
    def of(cls, article: Article) -> Copy:
        return cls(article.id, article.source, article.url, article.title, article.published_at)


def read_copies(meta: dict[str, Any] | None) -> list[Copy]:
    """The copies recorded on an article's metadata (an unreadable field reads as none)."""
    raw = (meta or {}).get(FIELD)
    if not raw:
        return []
    try:
        items = json.loads(raw)
        return [Copy(**{k: d.get(k) for k in ("id", "source", "url", "title", "published_at")}) for d in items if d.get("id")]
    except (ValueError, TypeError, AttributeError):
        return []


def with_copy(copies: list[Copy], copy: Copy) -> list[Copy]:
    """`copies` with `copy` added or refreshed (one entry per copy id, so re-ingesting adds nothing)."""
    out = [c for c in copies if c.id != copy.id]
    out.append(copy)
    return out


def dump_copies(copies: list[Copy]) -> str:
    return json.dumps([asdict(c) for c in copies], ensure_ascii=False)


def outlets(copies: list[Copy], exclude: str | None = None) -> list[str]:
    """Distinct outlet names of the copies (their URL's host when the outlet is unknown)."""
    from urllib.parse import urlsplit

    out: list[str] = []
    for c in copies:
        name = c.source or (urlsplit(c.url).hostname if c.url else None)
        if name and name != exclude and name not in out:
            out.append(name)
    return out


__all__ = ["FIELD", "THRESHOLD", "Copy", "dump_copies", "outlets", "read_copies", "resemblance", "shingles", "with_copy"]

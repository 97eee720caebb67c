"""The records that cross the ingest boundary: articles, chunks and the ingest report."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field


def content_hash(text: str) -> str:
    """Stable hash of an article's text (whitespace-normalised, so re-saves don't count as edits)."""
    normalised = " ".join(text.split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


@dataclass
class Article:
    """One news article. Unknown metadata stays None: it is never guessed."""

    id: str
    text: str
    title: str | None = None
    source: str | None = None
    url: str | None = None
    published_at: str | None = None  # ISO date (YYYY-MM-DD) or datetime, as the source gave it
    path: str | None = None  # where it was read from, for reports
    author: str | None = None

    @property
    def hash(self) -> str:
        # Kept beside the fields (not one of them), for as long as the text is the same object:
        # ingest asks for it several times per article.
        cached = self.__dict__.get("_hash")
        if cached is None or cached[0] is not self.text:
            cached = self.__dict__["_hash"] = (self.text, content_hash(self.text))
        return cached[1]

    @property
    def date(self) -> str | None:
        """The publication day (YYYY-MM-DD) or None."""
        return self.published_at[:10] if self.published_at else None


@dataclass
class Chunk:
    """A run of whole sentences of an article; start/end are offsets into Article.text."""

    id: str
    article_id: str
    text: str
    start: int
    end: int
    index: int


@dataclass
class Skip:
    path: str
    reason: str


@dataclass
class IngestReport:
    """What an ingest did, article by article, and the index totals afterwards."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[Skip] = field(default_factory=list)
    articles: int = 0
    chunks: int = 0
    chunks_added: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [
            (f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"skipped {len(self.skipped)}; index: {self.articles} articles, {self.chunks} chunks")
        ]
        lines += [f"  skipped {s.path}: {s.reason}" for s in self.skipped]
        return "\n".join(lines)

"""newsqa's hybrid retrieval as a LangChain retriever (`NewsQA.as_retriever()`).

LangChain is imported here only, when a retriever is asked for: the CLI never pays for it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, field_validator

from ingest.store import Passage

from .retrieval import Filters

METADATA = ("article_id", "title", "source", "published_at", "url", "start", "end")


def passage_document(p: Passage) -> Document:
    """A passage as a Document: its text, and where it comes from (offsets into the article text)."""
    return Document(id=p.chunk_id, page_content=p.text, metadata={name: getattr(p, name) for name in METADATA})


class NewsQARetriever(BaseRetriever):
    """The k best passages for a query from a NewsQA index: dense and BM25 search, fused by rank.

    An empty index gives no documents. Dates in the query ("this week") resolve against `today`.

    Args:
        qa: the NewsQA whose index is searched.
        k: passages per query.
        date_from / date_to: ISO dates limiting the articles searched (inclusive).
        sources: outlets to search (all when empty).
        today: the date queries are asked on (default: the day of each query).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    qa: Any
    k: int = 6
    date_from: str | None = None
    date_to: str | None = None
    sources: list[str] | None = None
    today: str | None = None

    @field_validator("date_from", "date_to", "today", mode="before")
    @classmethod
    def _iso_day(cls, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, date):
            return value.isoformat()
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ValueError(f"dates must look like 2017-09-15 (YYYY-MM-DD), not {value!r}") from None

    @field_validator("k")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"k must be at least 1, not {value}")
        return value

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        filters = Filters(self.date_from, self.date_to, list(self.sources or []))
        today = self.today or date.today().isoformat()
        return [passage_document(p) for p in self.qa.retriever.retrieve(query, self.k, filters, today=today)]

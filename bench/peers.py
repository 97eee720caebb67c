"""The retrievers newsqa is compared with, run by the same harness (app.evaluation.evaluate).

- LangChainTutorial: the plain LangChain RAG tutorial retriever: RecursiveCharacterTextSplitter
  (1000 characters, 200 overlap), HuggingFaceEmbeddings with the bundled all-MiniLM-L6-v2, Chroma
  similarity search top k. Each article is loaded as "title\\n\\ntext", as a page loader would.
- BM25Alone: bm25s (Okapi BM25, English stopwords) over whole articles (title + text): the
  document-level keyword baseline the eval READMEs quote their floors for.

Both persist under a cache folder, so reruns skip the embedding. Needs the `bench` extra:
`pip install -e ".[bench]"`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass
class Hit:
    article_id: str


def read_corpus(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _doc_text(rec: dict) -> str:
    title = (rec.get("title") or "").strip()
    return f"{title}\n\n{rec['text']}" if title else rec["text"]


class LangChainTutorial:
    """RecursiveCharacterTextSplitter 1000/200 + HuggingFaceEmbeddings (MiniLM) + Chroma top k."""

    name = "langchain-tutorial"

    def __init__(self, corpus: str | Path, folder: str | Path) -> None:
        from langchain_chroma import Chroma
        from langchain_core.documents import Document
        from langchain_huggingface import HuggingFaceEmbeddings
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from ingest.embedder import bundled_model_path

        embeddings = HuggingFaceEmbeddings(model_name=bundled_model_path(), model_kwargs={"device": "cpu"})
        self.store = Chroma(collection_name="tutorial", embedding_function=embeddings, persist_directory=str(folder))
        records = read_corpus(corpus)
        if len(self.store.get(limit=1, include=[])["ids"]) == 0:
            splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
            docs = [Document(page_content=_doc_text(r), metadata={"article_id": str(r["id"])}) for r in records if r.get("text")]
            chunks = splitter.split_documents(docs)
            for i in range(0, len(chunks), 2000):
                self.store.add_documents(chunks[i : i + 2000])
        self.chunks = self.store._collection.count()

    def retrieve(self, query: str, k: int = 10, *, today: date | str | None = None) -> list[Hit]:
        return [Hit(d.metadata["article_id"]) for d in self.store.similarity_search(query, k=k)]


class BM25Alone:
    """bm25s over whole articles (title + text), English stopwords."""

    name = "bm25"

    def __init__(self, corpus: str | Path) -> None:
        import bm25s

        records = [r for r in read_corpus(corpus) if r.get("text")]
        self.ids = [str(r["id"]) for r in records]
        self._bm25s = bm25s
        self.index = bm25s.BM25()
        self.index.index(bm25s.tokenize([_doc_text(r) for r in records], stopwords="en", show_progress=False), show_progress=False)

    def retrieve(self, query: str, k: int = 10, *, today: date | str | None = None) -> list[Hit]:
        tokens = self._bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.ids or not tokens.ids[0]:
            return []
        docs, scores = self.index.retrieve(tokens, k=min(k, len(self.ids)), show_progress=False)
        return [Hit(self.ids[int(i)]) for i, s in zip(docs[0], scores[0]) if s > 0]

"""`NewsQA.as_retriever()`: newsqa's hybrid retrieval as a LangChain retriever, in LCEL chains."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough

from .conftest import ROOT, SEED_FILE

SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")
QUESTION = "Who controls Deir Ezzor?"
METADATA = {"article_id", "title", "source", "published_at", "url", "start", "end"}


def format_docs(docs: list[Document]) -> str:
    return "\n\n".join(f"[{i}] {d.metadata['title'] or '(untitled)'}: {d.page_content}" for i, d in enumerate(docs, 1))


def test_invoke_returns_documents_with_the_passage_and_its_article(seeded):
    retriever = seeded.as_retriever()
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke(QUESTION)
    assert docs and len(docs) <= seeded.settings.top_k
    article_ids = set(seeded.store.all_articles())
    for d in docs:
        assert isinstance(d, Document) and set(d.metadata) == METADATA
        assert d.metadata["article_id"] in article_ids
        # start/end are offsets into the article's text: the passage is that very span.
        assert SEED_TEXT[d.metadata["start"] : d.metadata["end"]] == d.page_content
        # The seed file names no title, outlet, date or URL: unknown stays None, never guessed.
        assert (d.metadata["title"], d.metadata["source"], d.metadata["published_at"], d.metadata["url"]) == (None,) * 4
    assert any("less than half the city" in d.page_content for d in docs)
    # The same passages, in the same order, as newsqa's own retrieval gives.
    ids = [p.chunk_id for p in seeded.retriever.retrieve(QUESTION, seeded.settings.top_k)]
    assert [d.id for d in docs] == ids


def test_an_lcel_chain_over_the_retriever(seeded):
    chain = seeded.as_retriever(k=2) | RunnableLambda(format_docs)
    context = chain.invoke(QUESTION)
    assert context.startswith("[1] (untitled): ") and "less than half the city" in context

    # The usual RAG shape: context and question side by side, then a prompt.
    rag = RunnableParallel(context=seeded.as_retriever(k=2) | RunnableLambda(format_docs), question=RunnablePassthrough()) | RunnableLambda(
        lambda x: f"Answer from the sources.\n\n{x['context']}\n\nQuestion: {x['question']}"
    )
    prompt = rag.invoke(QUESTION)
    assert prompt.endswith(f"Question: {QUESTION}") and "less than half the city" in prompt
    assert rag.batch([QUESTION, "How long was the siege of Deir Ezzor?"])[1].count("[2]") == 1


def test_k_filters_and_async(seeded):
    assert len(seeded.as_retriever(k=1).invoke(QUESTION)) == 1
    # Hard limits: an outlet nobody indexed, or a date range (undated articles are outside any range).
    assert seeded.as_retriever(sources=["Nobody's Gazette"]).invoke(QUESTION) == []
    assert seeded.as_retriever(date_from="2001-01-01", date_to="2001-12-31").invoke(QUESTION) == []
    docs = asyncio.run(seeded.as_retriever(k=2, today="2017-09-20").ainvoke(QUESTION))
    assert len(docs) == 2 and set(docs[0].metadata) == METADATA


def test_bad_arguments_say_what_is_wrong(seeded):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        seeded.as_retriever(date_from="15/09/2017")
    with pytest.raises(ValueError, match="k must be at least 1"):
        seeded.as_retriever(k=0)


def test_an_empty_index_gives_no_documents(fresh):
    assert fresh.as_retriever().invoke(QUESTION) == []


def test_the_cli_does_not_import_the_retriever_or_the_servers():
    code = (
        "import sys, app.cli; "
        "print(sorted(m for m in ('app.langchain_retriever', 'langchain_core.retrievers', 'app.openai_api', "
        "'app.server', 'fastapi', 'gradio') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"

"""The Python API: `NewsQA(...).ingest(...)`, `.ask(...)`, `.stream(...)`."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from ingest.embedder import Embedder
from ingest.keyword import KeywordIndex
from ingest.models import IngestReport
from ingest.pipeline import ingest_paths
from ingest.store import Passage, Store
from ingest.terms import terms

from .answering import (
    ABSTAIN_TEXT,
    Evidence,
    EvidenceScorer,
    Tuning,
    attribute,
    check_sentence,
    choose_evidence,
    citation_for,
    compose_text,
    extractive,
    leans_back,
    order_newest_first,
    pick_choice,
    same_claim,
    split_choices,
    split_model_text,
)
from .config import Settings
from .models import Answer, AnswerSentence, Citation
from .retrieval import Filters, Retriever
from .templates import load_template


class NewsQAError(RuntimeError):
    """Something the user can fix; the message says how."""


class NothingIndexed(NewsQAError):
    pass


# Follow-ups lean on the previous question ("And who is advancing from the east?").
_FOLLOW_UP = re.compile(r"^(and|but|also|what about|how about|so)\b|\b(he|she|they|them|it|its|their|there|that|this|those)\b", re.IGNORECASE)


class NewsQA:
    """Question answering with citations over an index of news articles.

    Args:
        data_dir: where the embedded index lives (NEWSQA_DATA_DIR).
        settings: a full Settings object; keyword arguments override it.
        embedder: the sentence embedder (built from the bundled model when absent).
        chat_model: a LangChain chat model for generative answers (built from `llm` when needed).
        store: an open Store (built from data_dir / chroma_url when absent).
        **overrides: any Settings field (chroma_url, llm, mode, top_k, ...).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike | None = None,
        *,
        settings: Settings | None = None,
        embedder: Any = None,
        chat_model: Any = None,
        store: Store | None = None,
        tuning: Tuning | None = None,
        **overrides: Any,
    ) -> None:
        if settings is None:
            settings = Settings.load(data_dir=data_dir, **overrides)
        else:
            for k, v in overrides.items():
                if v is not None:
                    setattr(settings, k, v)
        self.settings = settings
        self.embedder = embedder or Embedder()
        self.store = store or Store(self.embedder, path=settings.data_dir, url=settings.chroma_url)
        self.keyword = KeywordIndex()
        self.retriever = Retriever(self.store, self.keyword)
        self.tuning = tuning or Tuning()
        self.scorer = EvidenceScorer(self.embedder, self.keyword, self.tuning)
        self._chat_model = chat_model
        self._model_lock = threading.Lock()
        self._ingest_lock = threading.Lock()

    # --- ingest -------------------------------------------------------------------------------

    def ingest(
        self, *paths: str | os.PathLike, progress: bool = False, on_progress: Any = None, columns: dict[str, str] | None = None
    ) -> IngestReport:
        """Add files, folders, web pages and feeds (URLs) to the index; repeated articles are left as they are.

        `columns` maps article fields to CSV columns / JSON keys, e.g. {"text": "body"}.
        """
        with self._ingest_lock:
            return ingest_paths(paths, self.store, progress=progress, on_progress=on_progress, columns=columns)

    def stats(self) -> dict[str, Any]:
        """Index facts: articles, chunks, date range, outlets."""
        metas = self.store.all_articles()
        dates = sorted(m["published_at"][:10] for m in metas.values() if m.get("published_at"))
        outlets: dict[str, int] = {}
        for m in metas.values():
            if m.get("source"):
                outlets[m["source"]] = outlets.get(m["source"], 0) + 1
        return {
            "articles": len(metas),
            "chunks": self.store.counts()[1],
            "date_from": dates[0] if dates else None,
            "date_to": dates[-1] if dates else None,
            "undated": len(metas) - len(dates),
            "outlets": dict(sorted(outlets.items(), key=lambda kv: -kv[1])),
        }

    # --- asking -------------------------------------------------------------------------------

    @property
    def chat_model(self) -> Any:
        with self._model_lock:
            if self._chat_model is None:
                from .backends import make_chat_model

                self._chat_model = make_chat_model(
                    self.settings.llm,
                    base_url=self.settings.llm_base_url,
                    timeout=self.settings.llm_timeout,
                    retries=self.settings.llm_retries,
                )
            return self._chat_model

    def ask(self, question: str, **kwargs: Any) -> Answer:
        """Answer `question` with citations (see `stream` for the arguments)."""
        answer = None
        for item in self.stream(question, **kwargs):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(
        self,
        question: str,
        *,
        history: list[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        sources: list[str] | None = None,
        today: str | date | None = None,
        mode: str | None = None,
        k: int | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text in pieces as each is checked, then the final Answer.

        Args:
            question: the question.
            history: earlier user questions of this conversation, oldest first.
            date_from / date_to: ISO dates limiting the articles searched.
            sources: outlets to search (all when empty).
            today: the date the question is asked on (default: today).
            mode: "extractive" or "generative" (default: the setting).
            k: passages to retrieve (default: the setting).
        """
        question = " ".join(question.split())
        if not question:
            raise NewsQAError("Ask a question: the text is empty.")
        mode = mode or self.settings.mode
        today_s = today.isoformat() if isinstance(today, date) else (today or date.today().isoformat())
        if self.store.counts()[0] == 0:
            raise NothingIndexed("No articles are indexed yet: add some with `newsqa ingest PATH...` (try `newsqa ingest seeds/`).")
        filters = Filters(date_from, date_to, list(sources or []))
        # "Which country...? Is it Italy, France or Chile?": search and score the question itself,
        # then pick the choice the best sentences name.
        stem, choices = split_choices(question)
        query = self._retrieval_query(stem, history or [])
        passages = self.retriever.retrieve(query, k or self.settings.top_k, filters, today=today_s)
        if not passages:
            yield from self._abstain(question, passages, filters, mode)
            return
        evidence = self.scorer.score(stem, self.scorer.sentences(passages))
        key_cov = self.scorer.key_coverage(stem if not history else query, passages)
        if key_cov < self.tuning.min_key_coverage or max(e.match for e in evidence) < self.tuning.min_score:
            yield from self._abstain(question, passages, filters, mode)
            return
        picked = pick_choice(choices, evidence) if choices else None
        if picked is not None:
            choice, source = picked
            citation = citation_for(1, [source])
            sentence = AnswerSentence(text=choice[:1].upper() + choice[1:], citations=[1], support="supported", score=round(source.score, 3))
            note = f"picked {choice!r} from the choices: the best-scoring sentences name it"
            answer = self._answer(question, [sentence], [citation], mode, [note])
        elif mode == "generative":
            yield from self._generative(question, passages, evidence, today_s)
            return
        else:
            sentences, citations = extractive(order_newest_first(choose_evidence(evidence, self.tuning)))
            answer = self._answer(question, sentences, citations, mode, attribute(sentences, citations))
        yield answer.text
        yield answer

    def as_retriever(
        self,
        *,
        k: int | None = None,
        date_from: str | date | None = None,
        date_to: str | date | None = None,
        sources: list[str] | None = None,
        today: str | date | None = None,
    ) -> Any:
        """This index's hybrid retrieval as a LangChain retriever (a langchain_core BaseRetriever).

        Args:
            k: passages per query (default: the top_k setting).
            date_from / date_to: ISO dates limiting the articles searched.
            sources: outlets to search (all when empty).
            today: the date queries are asked on (default: the day of each query).

        Returns:
            A retriever whose Documents hold each passage's text and its article_id, title,
            source, published_at, url, start and end (offsets into the article text).
        """
        from .langchain_retriever import NewsQARetriever

        return NewsQARetriever(qa=self, k=self.settings.top_k if k is None else k, date_from=date_from, date_to=date_to,
                               sources=sources, today=today)

    def _retrieval_query(self, question: str, history: list[str]) -> str:
        if not history:
            return question
        if _FOLLOW_UP.search(question) or len(terms(question)) < 3:
            return f"{history[-1]} {question}"
        return question

    def _answer(self, question: str, sentences: list[AnswerSentence], citations: list[Citation], mode: str, notes: list[str] | None = None) -> Answer:
        dates = [c.date for c in citations if c.date]
        self._name_copies(citations)
        return Answer(
            question=question,
            text=compose_text(sentences),
            citations=citations,
            sentences=sentences,
            as_of=max(dates) if dates else None,
            abstained=False,
            mode=mode,
            notes=notes or [],
        )

    def _name_copies(self, citations: list[Citation]) -> None:
        """Name the other outlets that ran each cited story: a syndicated copy is one source, not several."""
        from ingest.syndication import outlets, read_copies

        metas = self.store.article_meta(c.article_id for c in citations)
        for c in citations:
            c.also_published_by = outlets(read_copies(metas.get(c.article_id)), exclude=c.source)

    def _abstain(self, question: str, passages: list[Passage], filters: Filters, mode: str) -> Iterator[str | Answer]:
        stats = self.stats()
        closest: list[dict[str, Any]] = []
        for p in passages:
            if len(closest) < 3 and all(c["article_id"] != p.article_id for c in closest):
                closest.append({"title": p.title or "(untitled)", "source": p.source, "date": p.date, "article_id": p.article_id})
        span = ""
        if stats["date_from"]:
            span = f", published {stats['date_from']} to {stats['date_to']}"
        undated = f" ({stats['undated']} undated)" if stats["undated"] else ""
        n = stats["articles"]
        text = f"{ABSTAIN_TEXT} I searched {n} article{'s' if n != 1 else ''}{span}{undated}"
        if filters:
            text += " within your filters"
        if closest:
            names = "; ".join(f"\u201c{c['title']}\u201d ({c['source'] or 'outlet unknown'}, {c['date'] or 'date unknown'})" for c in closest)
            text += f"; the closest {'were' if len(closest) > 1 else 'was'} {names}"
        text += "."
        answer = Answer(
            question=question,
            text=text,
            abstained=True,
            mode=mode,
            searched={"articles": stats["articles"], "date_from": stats["date_from"], "date_to": stats["date_to"], "closest": closest},
        )
        yield answer.text
        yield answer

    # --- generative ---------------------------------------------------------------------------

    def _generative(self, question: str, passages: list[Passage], evidence: list[Evidence], today: str) -> Iterator[str | Answer]:
        from langchain_core.messages import HumanMessage, SystemMessage

        template = load_template("answer")
        system, user = template.format(question=question, passages=format_passages(passages), today=today)
        kept: list[tuple[str, Evidence]] = []
        dropped: list[str] = []
        buffer = ""
        citations: dict[tuple[str, int, int], Citation] = {}
        sentences: list[AnswerSentence] = []

        after_kept = False  # whether the model's previous sentence was shown

        def check(raw: str) -> Iterator[str]:
            nonlocal after_kept
            for text, cited in split_model_text(raw):
                shown, after_kept = after_kept, False
                if "NOT IN SOURCES" in text.upper():
                    continue
                if any(same_claim(text, k) for k, _ in kept):
                    # Small models loop ("Gobble and Waddle. Gobble and Waddle."): say it once.
                    dropped.append(f"{text} (repeats an earlier sentence)")
                    after_kept = True  # what it repeats is shown, so a sentence leaning on it reads
                    continue
                if not shown and leans_back(text):
                    # "They are 37-45-2 in those games." after its subject was refused says nothing.
                    dropped.append(f"{text} (leans on a sentence that is not shown)")
                    continue
                verdict = check_sentence(text, cited, evidence, self.embedder, self.tuning, question)
                if not verdict.supported or verdict.source is None:
                    dropped.append(f"{text} ({verdict.reason})")
                    continue
                src = verdict.source
                if src.score < self.tuning.second_ratio * evidence[0].score:
                    # True of its source but beside the question: the extractive answer would not use it either.
                    dropped.append(f"{text} (does not answer the question)")
                    continue
                key = (src.passage.article_id, src.start, src.end)
                if key not in citations:
                    citations[key] = citation_for(len(citations) + 1, [src])
                n = citations[key].n
                s = AnswerSentence(text=text, citations=[n], support="supported", score=round(verdict.precision, 3))
                sentences.append(s)
                kept.append((text, src))
                after_kept = True
                yield ("" if len(sentences) == 1 else " ") + compose_text([s])

        from .backends import BackendError

        # A model server that is down or fails mid-answer must not take the chat down: the
        # reader gets the quoted sources (or what was checked so far) and a warning saying why.
        failure: str | None = None
        try:
            for chunk in self.chat_model.stream([SystemMessage(content=system), HumanMessage(content=user)]):
                buffer += str(chunk.content)
                spans = _complete_sentences(buffer)
                if spans:
                    yield from check(buffer[:spans])
                    buffer = buffer[spans:]
        except BackendError as e:
            failure = str(e)
        else:
            yield from check(buffer)
        notes = [f"removed by the citation check: {d}" for d in dropped]
        warnings: list[str] = []
        if not sentences:
            if failure:
                warnings.append(f"The language model could not answer, so the sources are quoted instead. {failure}")
            else:
                notes.append("the model's answer did not pass the citation check; quoting the sources instead")
            quoted, cits = extractive(order_newest_first(choose_evidence(evidence, self.tuning)))
            answer = self._answer(question, quoted, cits, "generative", notes + attribute(quoted, cits))
            answer.warnings = warnings
            yield answer.text
            yield answer
            return
        if failure:
            warnings.append(f"The language model stopped before finishing, so this answer may be incomplete. {failure}")
        answer = self._answer(question, sentences, list(citations.values()), "generative", notes)
        answer.warnings = warnings
        yield answer


def _complete_sentences(buffer: str) -> int:
    """Length of the prefix of `buffer` made of finished sentences (0 if none is finished)."""
    from ingest.chunking import split_sentences

    spans = split_sentences(buffer)
    if len(spans) < 2:
        return 0
    return spans[-1][0]


# Chat-control tokens: llama.cpp reads the whole prompt with special tokens enabled, so these in
# article text would become real turn or document breaks. ChatML/Llama 3/Phi (<|...|>), DeepSeek
# (<｜...｜>), Llama 2/Mistral ([INST], <<SYS>>, <s>), and tag-like tokens such as Gemma's
# <start_of_turn> or SmolLM2's <filename> (any <word> or </word>; HTML tags in a prompt lose nothing).
_SPECIAL = re.compile(r"<\|[^|>]{0,40}\|>|<｜[^｜>]{0,40}｜>|\[/?INST\]|<</?SYS>>|</?[A-Za-z][\w:.-]{0,40}>")
# Fake turns ("### Assistant:", "System:") only work at the start of a line.
_ROLE = re.compile(r"(?im)^[\s#>*-]*(system|assistant|user|human|ai|bot)\s*:")


def _as_data(text: str) -> str:
    """Article text made inert for a prompt: no control tokens, no turns, no citation marks."""
    text = _SPECIAL.sub(" ", text)
    text = _ROLE.sub(lambda m: f"({m.group(1)})", text)
    text = re.sub(r"\[(\d{1,3})\]", r"(\1)", text)  # fake citation marks in articles
    return " ".join(text.split())  # one line per passage: nothing in it starts a turn or a passage


def format_passages(passages: list[Passage]) -> str:
    """Numbered passages for the prompt, with chat-control tokens neutralised (articles are data)."""
    blocks = []
    for i, p in enumerate(passages, start=1):
        title, source = _as_data(p.title or "") or "(untitled)", _as_data(p.source or "") or "outlet unknown"
        head = f"[{i}] {title} ({source}, {p.date or 'date unknown'})"
        blocks.append(f"{head}\n{_as_data(p.text)}")
    return "\n\n".join(blocks)


def default_seeds() -> Path | None:
    """The sample articles shipped with newsqa (seeds/ in a checkout, or the installed copy)."""
    from importlib import resources

    try:
        folder = resources.files("app.seeds")
        return Path(str(folder))
    except ModuleNotFoundError:
        here = Path(__file__).resolve().parent.parent / "seeds"
        return here if here.is_dir() else None


_ = time  # timing is measured by callers (bench, eval)

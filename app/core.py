"""The Python API: `NewsQA(...).ingest(...)`, `.ask(...)`, `.stream(...)`.

A short facade: it builds (or takes) the collaborators and hands each question to the answer
pipeline (app/answer/pipeline.py), where every answer decision has its own module.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from ingest.embedder import Embedder
from ingest.keyword import KeywordIndex
from ingest.models import IngestReport
from ingest.store import Store
from ingest.variants import VariantSource, variant_files

from .answer import AnswerPipeline, EvidenceScorer, Tuning
from .answer.decide import index_stats
from .answer.judge import Judge
from .config import Settings, is_bundled
from .errors import NewsQAError, NothingIndexed, SettingsError
from .models import Answer
from .retrieval import Filters, Retriever


class NewsQA:
    """Question answering with citations over an index of news articles.

    Args:
        data_dir: where the embedded index lives (NEWSQA_DATA_DIR).
        settings: a full Settings object; keyword arguments override it.
        embedder: the sentence embedder (built from the bundled model when absent).
        chat_model: a LangChain chat model for generative answers (built from `llm` when needed).
        store: an open Store (built from data_dir / chroma_url when absent).
        retriever: a Retriever over `store` (built with its default knobs when absent).
        tuning: the answer layer's weights and thresholds.
        judge: the judge of model sentences the cheap check cannot settle (built from `judge` when absent).
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
        retriever: Retriever | None = None,
        tuning: Tuning | None = None,
        judge: Judge | None = None,
        **overrides: Any,
    ) -> None:
        if settings is None:
            settings = Settings.load(data_dir=data_dir, **overrides)
        else:
            for k, v in overrides.items():
                if v is not None:
                    setattr(settings, k, v)
            settings.check()
        self.settings = settings
        if embedder is None:
            embedder = build_embedder(settings)
            embedder.prefetch()  # the encoder loads while Chroma opens
        self.embedder = embedder
        self.store = store or Store(self.embedder, path=settings.data_dir, url=settings.chroma_url)
        if retriever is None:
            variants = VariantSource(variant_files(settings.data_dir, settings.variants))
            retriever = Retriever(self.store, KeywordIndex(variants=variants))
        self.retriever = retriever
        self.keyword = retriever.keyword
        self.tuning = tuning or Tuning()
        self.scorer = EvidenceScorer(self.embedder, self.keyword, self.tuning)
        self.pipeline = AnswerPipeline(
            self.retriever, self.scorer, self.store, lambda: self.chat_model, self.tuning, lambda: self.judge,
            self._capable_model,
        )
        self._chat_model = chat_model
        self._judge: Judge | None = judge
        self._judge_built = judge is not None
        self._model_lock = threading.Lock()
        self._ingest_lock = threading.Lock()

    # --- ingest -------------------------------------------------------------------------------

    def ingest(
        self, *paths: str | os.PathLike, progress: bool = False, on_progress: Any = None, columns: dict[str, str] | None = None
    ) -> IngestReport:
        """Add files, folders, web pages and feeds (URLs) to the index; repeated articles are left as they are.

        `columns` maps article fields to CSV columns / JSON keys, e.g. {"text": "body"}.
        """
        from ingest.pipeline import ingest_paths  # the loaders and feed readers: not needed to ask

        with self._ingest_lock:
            return ingest_paths(paths, self.store, progress=progress, on_progress=on_progress, columns=columns)

    def stats(self) -> dict[str, Any]:
        """Index facts: articles, chunks, date range, outlets, and the encoder of the vectors."""
        return {**index_stats(self.store), "encoder": self.store.encoder}

    # --- asking -------------------------------------------------------------------------------

    @property
    def chat_model(self) -> Any:
        with self._model_lock:
            if self._chat_model is None:
                self._chat_model = self._build_model(self.settings.llm, self.settings.llm_base_url)
            return self._chat_model

    @property
    def judge(self) -> Judge | None:
        """The judge (NEWSQA_JUDGE): None when off; never the bundled SmolLM2."""
        with self._model_lock:
            if not self._judge_built:
                self._judge = self._make_judge()
                self._judge_built = True
            return self._judge

    def _capable_model(self) -> bool:
        """Whether answers come from a model of the user's choosing, not the bundled SmolLM2: only
        such a model's yes/no verdict is shown when the check cannot settle it."""
        if self._chat_model is None:
            return not is_bundled(self.settings.llm)
        from .backends import LlamaCppChat, bundled_gguf

        if not isinstance(self._chat_model, LlamaCppChat):
            return True
        try:
            return self._chat_model.model_path != bundled_gguf()
        except NewsQAError:
            return True  # no bundled model installed: this one is the user's

    def _make_judge(self) -> Judge | None:
        spec = (self.settings.judge or "off").strip()
        if spec.lower() in {"", "off", "none", "0"}:
            return None
        if spec.lower() == "same":
            spec = self.settings.llm
            if is_bundled(spec):
                raise SettingsError("NEWSQA_JUDGE=same needs a capable model in NEWSQA_LLM: the bundled SmolLM2 cannot judge claims.")
            return Judge(self._chat_model if self._chat_model is not None else self._build_model(spec, self.settings.llm_base_url))
        if is_bundled(spec):
            raise SettingsError("NEWSQA_JUDGE cannot be the bundled SmolLM2: name a capable model, e.g. openai:<model>.")
        return Judge(self._build_model(spec, self.settings.judge_base_url or self.settings.llm_base_url))

    def _build_model(self, spec: str, base_url: str | None) -> Any:
        from .backends import make_chat_model

        return make_chat_model(spec, base_url=base_url, timeout=self.settings.llm_timeout, retries=self.settings.llm_retries)

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
        choices: bool | None = None,
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
            choices: answer "Is it A, B or C?" with the choice the sources name (default: the setting).
        """
        question = " ".join(question.split())
        if not question:
            raise NewsQAError("Ask a question: the text is empty.")
        today_s = today.isoformat() if isinstance(today, date) else (today or date.today().isoformat())
        if self.store.counts()[0] == 0:
            raise NothingIndexed("No articles are indexed yet: add some with `newsqa ingest PATH...` (try `newsqa ingest seeds/`).")
        yield from self.pipeline.stream(
            question,
            history=history or [],
            filters=Filters(date_from, date_to, list(sources or [])),
            today=today_s,
            mode=mode or self.settings.mode,
            k=k or self.settings.top_k,
            choices=self.settings.choices if choices is None else choices,
        )

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


def build_embedder(settings: Settings | None = None, **overrides: Any) -> Embedder:
    """The embedder the settings ask for (NEWSQA_ENCODER, NEWSQA_CACHE_DIR); its model loads on first use."""
    settings = settings or Settings.load(**overrides)
    return Embedder(settings.encoder, cache_dir=settings.cache_dir)


def reindex(settings: Settings | None = None, *, progress: bool = False, **overrides: Any) -> dict[str, Any]:
    """Re-embed every chunk of the index with the encoder the settings ask for (`newsqa reindex`).

    "auto" means the best encoder for this CPU here, not the index's own. Returns what was done:
    {"from", "to", "chunks"} (chunks 0 when the index already used that encoder).
    """
    from ingest.embedder import resolve_encoder
    from ingest.pipeline import reembed

    settings = settings or Settings.load(**overrides)
    target = resolve_encoder(settings.encoder)
    embedder = Embedder(target, cache_dir=settings.cache_dir)
    store = Store(embedder, path=settings.data_dir, url=settings.chroma_url, check_encoder=False)
    try:
        before = store.encoder
        if before == target:
            return {"from": before, "to": target, "chunks": 0}
        embedder.load()  # export the int8 encoder (if needed) before the index is marked
        n = reembed(store, progress=progress)
        return {"from": before, "to": target, "chunks": n}
    finally:
        store.close()


def default_seeds() -> Path | None:
    """The sample articles shipped with newsqa (seeds/ in a checkout, or the installed copy)."""
    from importlib import resources

    try:
        folder = resources.files("app.seeds")
        return Path(str(folder))
    except ModuleNotFoundError:
        here = Path(__file__).resolve().parent.parent / "seeds"
        return here if here.is_dir() else None

"""A question becomes an answer here, in named stages: retrieve, read, score, decide, then compose
(extractive) or generate-and-verify (generative).

Each stage's rules live in their own module; this file only says the order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ingest.store import Passage, Store

from ..models import Answer, Citation
from ..retrieval import Filters, Retriever
from .choices import choice_draft, pick_choice, split_choices
from .citing import Draft, attribute, compose_text, mark_control_text
from .decide import abstain_reason, abstention, index_stats, near_miss
from .evidence import Evidence, EvidenceScorer
from .extractive import choose_evidence, choose_lead, extractive, lead_answer, lead_the_quotes, order_newest_first
from .generative import generate
from .judge import Judge
from .question import asked_words, retrieval_query
from .tuning import Tuning


class AnswerPipeline:
    """The stages from a question to an `Answer`; `NewsQA` builds one and calls `stream`.

    Args:
        retriever: ranks passages for a query (hybrid dense + BM25).
        scorer: scores the passages' sentences against the question.
        store: the index (for what was searched, and syndicated copies of cited articles).
        chat_model: returns the LangChain chat model; called only when a model is needed.
        tuning: the weights and thresholds of every decision.
        judge: returns the judge of unsettled model sentences (None: none configured).
        capable: whether the answer model is one of the user's choosing (not the bundled SmolLM2):
            only such a model's yes/no verdict is shown, marked unchecked, when the check can't settle it.
    """

    def __init__(
        self,
        retriever: Retriever,
        scorer: EvidenceScorer,
        store: Store,
        chat_model: Callable[[], Any],
        tuning: Tuning,
        judge: Callable[[], Judge | None] = lambda: None,
        capable: Callable[[], bool] = lambda: False,
    ) -> None:
        self.retriever = retriever
        self.scorer = scorer
        self.store = store
        self.chat_model = chat_model
        self.tuning = tuning
        self.judge = judge
        self.capable = capable

    def stream(
        self,
        question: str,
        *,
        history: list[str],
        filters: Filters,
        today: str,
        mode: str,
        k: int,
        choices: bool = False,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text in pieces as each is checked, then the final Answer."""
        # read: "Which country...? Is it Italy, France or Chile?" is searched and scored as its
        # stem. With choices on, the extractive answer is the choice the best sentences name; a
        # model (generative) reads the whole question, choices included, and answers it.
        stem, options = split_choices(question) if choices else (question, [])
        if mode == "generative":
            options = []
        query = retrieval_query(stem, history)
        # retrieve
        passages = self.retriever.retrieve(query, k, filters, today=today)
        # score
        evidence = self.evidence(stem, passages)
        key_cov = self.scorer.key_coverage(stem if not history else query, passages) if passages else 0.0
        # decide
        reason = abstain_reason(passages, evidence, key_cov, self.tuning)
        if reason is not None:
            missing = self.scorer.missing_keys(stem if not history else query, passages) if passages and key_cov < 1.0 else []
            answer = abstention(question, passages, filters, mode, index_stats(self.store), reason, asked_words(stem, missing))
            yield answer.text
            yield answer
            return
        # compose, or generate and verify
        picked = pick_choice(options, evidence) if options else None
        if picked is not None:
            draft = choice_draft(*picked)
        elif mode == "generative":
            draft = None
            judge = self.judge()
            verdicts = judge is None and self.capable()
            for item in generate(question, passages, evidence, today, self.chat_model, self.scorer, self.tuning, judge, verdicts):
                if isinstance(item, Draft):
                    draft = item
                else:
                    yield item
            assert draft is not None
            if draft.abstain:
                answer = abstention(question, passages, filters, mode, index_stats(self.store), draft.abstain)
                answer.notes += draft.notes
                yield answer.text
                yield answer
                return
        elif self.tuning.lead_first:
            # Lead with the answer; when no close sentence states it, the topic is there but not the fact.
            lead = choose_lead(evidence, stem, self.tuning, today)
            sentences, citations, context = lead_answer(lead)
            if not lead.group:
                context = mark_control_text(context, self.store)
                answer = near_miss(question, passages, context, mode, index_stats(self.store), lead.kind)
                yield answer.text
                yield answer
                return
            draft = Draft(sentences, citations, context=context)
        else:
            selection = order_newest_first(choose_evidence(evidence, self.tuning), today)
            if self.tuning.lead_in_quotes:
                selection = lead_the_quotes(selection, choose_lead(evidence, stem, self.tuning, today), self.tuning, today)
            sentences, citations = extractive(selection)
            draft = Draft(sentences, citations, attribute(sentences, citations, today))
        answer = self.finish(question, draft, mode)
        if not draft.streamed:
            yield answer.text
        yield answer

    def evidence(self, question: str, passages: list[Passage]) -> list[Evidence]:
        """The passages' sentences scored against the question, best first. Control text (fake chat
        turns, orders to a model) is never the answer, nor support for one."""
        return self.scorer.score(question, [e for e in self.scorer.sentences(passages) if not e.control]) if passages else []

    def finish(self, question: str, draft: Draft, mode: str) -> Answer:
        """The Answer: dated by its newest cited article, each citation naming the story's other outlets."""
        dates = [c.date for c in draft.citations if c.date]
        self._name_copies(draft.citations)
        mark_control_text(draft.citations + draft.context, self.store)
        return Answer(
            question=question,
            text=compose_text(draft.sentences),
            citations=draft.citations,
            sentences=draft.sentences,
            as_of=max(dates) if dates else None,
            abstained=False,
            mode=mode,
            notes=draft.notes,
            warnings=draft.warnings,
            context=draft.context,
        )

    def _name_copies(self, citations: list[Citation]) -> None:
        """Name the other outlets that ran each cited story: a syndicated copy is one source, not several."""
        from ingest.syndication import outlets, read_copies

        metas = self.store.article_meta(c.article_id for c in citations)
        for c in citations:
            c.also_published_by = outlets(read_copies(metas.get(c.article_id)), exclude=c.source)

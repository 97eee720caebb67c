"""Measuring newsqa on outside question sets: the metrics (defined once, here) and `newsqa eval`.

The question files follow the schema of ../shared/eval (see its README): every question has an
`id`, the `question`, its `answer` (a string or a list of acceptable strings), `evidence_ids`
(the ids of the corpus records that hold the answer; empty when the sources don't) and
`evidence_text`; realtimeqa adds `choices` and `question_date`. newsqa keeps a record's own id
as its article id, so evidence ids compare directly with `Passage.article_id`.

Retrieval metrics are at the article level: the articles of the top k passages, in order of
their first passage. Two chunks of one article fill two of the k places, so a retriever that
returns one article ten times sees fewer articles, as a reader of its top k would.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from ingest.errors import UsageError
from ingest.terms import fold

NOT_IN_SOURCES = "not in the sources"

# Gold answers that are labels, not facts a passage could contain ("no", "SUPPORT"): they count
# for answer accuracy but never as the supporting fact of a citation.
_LABELS = frozenset(
    ["yes", "no", "true", "false", "support", "contradict", "not enough info", "insufficient information", NOT_IN_SOURCES]
)

RETRIEVAL_KEYS = ("hit@1", "hit@5", "hit@10", "recall@10", "mrr@10", "ndcg@10", "n")
ANSWER_KEYS = (
    "accuracy", "accuracy_strict", "accuracy_first", "words_p50", "answered_rate", "answerable_answered",
    "abstention_precision", "abstention_recall", "n",
)


# --- questions ------------------------------------------------------------------------------


@dataclass
class EvalQuestion:
    """One question of an evaluation set, in the shared schema."""

    id: str
    question: str
    answers: list[str]
    evidence_ids: list[str] = field(default_factory=list)
    evidence_text: list[str] = field(default_factory=list)
    type: str = ""
    choices: list[str] = field(default_factory=list)
    question_date: str | None = None

    @property
    def answerable(self) -> bool:
        return bool(self.evidence_ids)

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> EvalQuestion:
        answer = rec.get("answer")
        answers = [str(a) for a in answer] if isinstance(answer, list) else ([str(answer)] if answer else [])
        return cls(
            id=str(rec["id"]),
            question=str(rec["question"]),
            answers=answers,
            evidence_ids=[str(e) for e in rec.get("evidence_ids") or []],
            evidence_text=[str(t) for t in rec.get("evidence_text") or []],
            type=str(rec.get("type") or ""),
            choices=[str(c) for c in rec.get("choices") or []],
            question_date=(str(rec["question_date"])[:10] if rec.get("question_date") else None),
        )


def load_questions(path: str | Path, limit: int | None = None) -> list[EvalQuestion]:
    """Questions from a JSON Lines file in the shared schema (the first `limit` of them)."""
    out: list[EvalQuestion] = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                out.append(EvalQuestion.from_record(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise UsageError(f"{path}:{n} is not a question record with 'id' and 'question' ({e}).") from e
            if limit is not None and len(out) >= limit:
                break
    if not out:
        raise UsageError(f"{path} holds no questions: expected JSON Lines with 'id', 'question', 'answer', 'evidence_ids'.")
    return out


def with_choices(question: str, choices: Sequence[str]) -> str:
    """The question with its choices appended the way a person would type them."""
    if not choices:
        return question
    listed = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
    return f"{question.rstrip()} Is it {listed}?"


# --- metrics ---------------------------------------------------------------------------------


def ranked_articles(article_ids: Sequence[str], k: int) -> list[str]:
    """The distinct articles of the top k passages, in order of their first passage."""
    return list(dict.fromkeys(article_ids[:k]))


def hit_at(article_ids: Sequence[str], gold: Iterable[str], k: int) -> float:
    """1.0 if any evidence article is among the top k passages' articles."""
    gold = set(gold)
    return float(any(a in gold for a in article_ids[:k]))


def recall_at(article_ids: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Share of the evidence articles among the top k passages' articles."""
    gold = set(gold)
    if not gold:
        return 0.0
    return len(gold & set(article_ids[:k])) / len(gold)


def mrr_at(article_ids: Sequence[str], gold: Iterable[str], k: int) -> float:
    """1 / rank of the first evidence article in the article ranking (0 if not in the top k)."""
    gold = set(gold)
    for rank, a in enumerate(ranked_articles(article_ids, k), start=1):
        if a in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at(article_ids: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Binary-relevance nDCG of the article ranking of the top k passages."""
    gold = set(gold)
    if not gold:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 1) for rank, a in enumerate(ranked_articles(article_ids, k), start=1) if a in gold)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal


def retrieval_scores(article_ids: Sequence[str], gold: Iterable[str]) -> dict[str, float]:
    """Every retrieval figure of one question, from the article ids of its ranked passages."""
    gold = list(gold)
    return {
        "hit@1": hit_at(article_ids, gold, 1),
        "hit@5": hit_at(article_ids, gold, 5),
        "hit@10": hit_at(article_ids, gold, 10),
        "recall@10": recall_at(article_ids, gold, 10),
        "mrr@10": mrr_at(article_ids, gold, 10),
        "ndcg@10": ndcg_at(article_ids, gold, 10),
    }


def normalise(text: str) -> str:
    """Lower case, no accents, punctuation or articles, single spaces (SQuAD-style)."""
    text = fold(text).replace("’", "'")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 27,000 -> 27000
    text = re.sub(r"[^\w\s]", " ", text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains(text: str, phrase: str) -> bool:
    """Whether `phrase` occurs in `text` as whole words, after normalising both."""
    p = normalise(phrase)
    return bool(p) and f" {p} " in f" {normalise(text)} "


def answer_correct(q: EvalQuestion, text: str, abstained: bool, strict: bool = False) -> bool:
    """Accuracy of one answer.

    An unanswerable question is answered correctly only by abstaining; an answerable one by an
    answer whose text contains a gold string. `strict` also requires that no other choice is
    named (multiple-choice sets); without choices it is the same as the plain check.
    """
    if not q.answerable:
        return abstained
    if abstained:
        return False
    if not any(contains(text, a) for a in q.answers):
        return False
    if strict and q.choices:
        gold = {normalise(a) for a in q.answers}
        return not any(contains(text, c) for c in q.choices if normalise(c) not in gold)
    return True


def first_claim(text: str) -> str:
    """An answer's text up to its first citation mark: what a reader takes as the answer."""
    m = re.search(r"\[\d+\]", text)
    return text[: m.start()] if m else text


def answer_words(text: str) -> int:
    """Words of an answer's text, citation marks left out."""
    return len(re.sub(r"\s*\[\d+\]", "", text).split())


def supporting_facts(q: EvalQuestion) -> list[str]:
    """What a cited passage must contain to support the answer: evidence text or a gold answer."""
    return [t for t in q.evidence_text if t.strip()] + [a for a in q.answers if normalise(a) not in _LABELS]


def citation_supports(passage: str, q: EvalQuestion) -> bool:
    """Whether a cited passage contains a supporting fact of the question."""
    return any(contains(passage, fact) for fact in supporting_facts(q))


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _mean(xs: Sequence[float]) -> float | None:
    return round(sum(xs) / len(xs), 4) if xs else None


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The report's figures from per-question records (as `evaluate` builds them)."""
    with_evidence = [r for r in records if r["evidence_ids"] and r.get("retrieval")]
    retrieval: dict[str, Any] = {
        key: _mean([r["retrieval"][key] for r in with_evidence]) for key in RETRIEVAL_KEYS if key != "n"
    }
    retrieval["n"] = len(with_evidence)

    asked = [r for r in records if r.get("answer") is not None]
    unanswerable = [r for r in asked if not r["evidence_ids"]]
    abstained = [r for r in asked if r["answer"]["abstained"]]
    # The lead: of the answerable questions answered, how often the first claim (the text before
    # the first [n]) already holds a gold answer; and how long answers are (answered questions).
    answered_answerable = [r for r in asked if r["evidence_ids"] and not r["answer"]["abstained"]]
    words_p50 = percentile([r["answer"]["words"] for r in asked if not r["answer"]["abstained"] and "words" in r["answer"]], 50)
    answers = {
        "accuracy": _mean([float(r["answer"]["correct"]) for r in asked]),
        "accuracy_strict": _mean([float(r["answer"]["correct_strict"]) for r in asked]),
        "accuracy_first": _mean([float(r["answer"].get("correct_first", False)) for r in answered_answerable]),
        "words_p50": round(words_p50, 1) if words_p50 is not None else None,
        "answered_rate": _ratio(len(asked) - len(abstained), len(asked)),
        "answerable_answered": _ratio(len(answered_answerable), len(asked) - len(unanswerable)),
        "abstention_precision": _ratio(sum(1 for r in abstained if not r["evidence_ids"]), len(abstained)),
        "abstention_recall": _ratio(sum(1 for r in unanswerable if r["answer"]["abstained"]), len(unanswerable)),
        "n": len(asked),
    }

    # Citations are judged on answerable questions that were answered: elsewhere there is no
    # supporting fact to find.
    answered = [r for r in asked if r["evidence_ids"] and not r["answer"]["abstained"]]
    cited = [c for r in answered for c in r["answer"]["citations"]]
    citations = {
        "precision": _ratio(sum(1 for c in cited if c["supports"]), len(cited)),
        "recall": _ratio(sum(1 for r in answered if any(c["supports"] for c in r["answer"]["citations"])), len(answered)),
    }

    query_ms = [r["query_ms"] for r in records if r.get("query_ms") is not None]
    answer_ms = [r["answer_ms"] for r in records if r.get("answer_ms") is not None]
    p50, p95, a50 = percentile(query_ms, 50), percentile(query_ms, 95), percentile(answer_ms, 50)
    speed = {
        "query_ms_p50": round(p50, 2) if p50 is not None else None,
        "query_ms_p95": round(p95, 2) if p95 is not None else None,
        "answer_ms_p50": round(a50, 2) if a50 is not None else None,
    }
    return {"retrieval": retrieval, "answers": answers, "citations": citations, "speed": speed}


# --- running questions -----------------------------------------------------------------------


class Searcher(Protocol):
    """Anything that ranks passages (objects with an `article_id`) for a query."""

    def retrieve(self, query: str, k: int = ..., *, today: date | str | None = None) -> list[Any]: ...


class Answerer(Protocol):
    def ask(self, question: str, **kwargs: Any) -> Any: ...


def evaluate(
    questions: Sequence[EvalQuestion],
    searcher: Searcher,
    answerer: Answerer | None = None,
    *,
    k: int = 10,
    with_choices_text: bool = False,
    mode: str | None = None,
    progress: bool = True,
    label: str = "eval",
) -> dict[str, Any]:
    """Run every question: retrieval through `searcher`, answers through `answerer.ask`.

    Args:
        questions: the questions.
        searcher: ranks passages; newsqa's Retriever or a peer's.
        answerer: a NewsQA (None: retrieval only).
        k: passages retrieved for the retrieval figures.
        with_choices_text: append the choices to the question, as a user would type them.
        mode: "extractive" or "generative" (the answerer's default when None).
        progress: show a progress bar on stderr.
        label: the progress bar's label.
    Returns:
        The report: `retrieval`, `answers`, `citations`, `speed` and per-question `questions`.
    """
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(questions), unit="q", desc=label, file=sys.stderr, dynamic_ncols=True)
    records = []
    try:
        for q in questions:
            records.append(_run_one(q, searcher, answerer, k, with_choices_text, mode))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return {**summarise(records), "questions": records}


def _run_one(q: EvalQuestion, searcher: Searcher, answerer: Answerer | None, k: int, add_choices: bool, mode: str | None) -> dict[str, Any]:
    text = with_choices(q.question, q.choices) if add_choices else q.question
    t = time.perf_counter()
    passages = searcher.retrieve(text, k, today=q.question_date)
    query_ms = (time.perf_counter() - t) * 1000
    article_ids = [p.article_id for p in passages]
    record: dict[str, Any] = {
        "id": q.id,
        "type": q.type,
        "question": text,
        "evidence_ids": q.evidence_ids,
        "retrieved": ranked_articles(article_ids, k),
        "retrieval": retrieval_scores(article_ids, q.evidence_ids) if q.evidence_ids else None,
        "query_ms": round(query_ms, 3),
        "answer_ms": None,
        "answer": None,
    }
    if answerer is None:
        return record
    t = time.perf_counter()
    # Choices appended to the question are answered with the choice strategy (opt-in).
    answer = answerer.ask(text, today=q.question_date, mode=mode, choices=add_choices)
    record["answer_ms"] = round((time.perf_counter() - t) * 1000, 3)
    record["answer"] = {
        "text": answer.text,
        "abstained": bool(answer.abstained),
        "correct": answer_correct(q, answer.text, answer.abstained),
        "correct_strict": answer_correct(q, answer.text, answer.abstained, strict=True),
        "correct_first": answer_correct(q, first_claim(answer.text), answer.abstained),
        "words": answer_words(answer.text),
        "citations": [
            {"article_id": c.article_id, "quote": c.quote, "supports": citation_supports(c.passage or c.quote, q)}
            for c in answer.citations
        ],
        # What the citation check removed from a generative answer, and other remarks: the
        # examples of what the verifier caught come from here.
        "notes": list(answer.notes),
    }
    return record


def corpus_data_dir(base: str | Path, corpus: str | Path) -> Path:
    """The default index folder of a corpus: one per corpus file under `base`/eval."""
    p = Path(corpus).resolve()
    digest = hashlib.sha1(str(p).encode("utf-8")).hexdigest()[:8]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{p.parent.name}_{p.stem}")
    return Path(base) / "eval" / f"{slug}-{digest}"


def run_eval(
    qa: Any,
    corpus: str | Path,
    questions: str | Path,
    *,
    retrieval_only: bool = False,
    with_choices_text: bool = False,
    k: int = 10,
    limit: int | None = None,
    mode: str | None = None,
    progress: bool = True,
    on_ingest: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Ingest `corpus` into `qa` (cheap when already there) and evaluate it on `questions`.

    Returns the `evaluate` report with a `config` block saying what was run.
    """
    qs = load_questions(questions, limit)
    report = qa.ingest(corpus, progress=progress)
    if on_ingest is not None:
        on_ingest(report)
    if report.articles == 0:
        raise UsageError(f"Nothing could be ingested from {corpus}: {report.summary()}")
    result = evaluate(
        qs,
        qa.retriever,
        None if retrieval_only else qa,
        k=k,
        with_choices_text=with_choices_text,
        mode=mode,
        progress=progress,
        label="newsqa",
    )
    result["config"] = {
        "system": "newsqa",
        "corpus": str(corpus),
        "questions": str(questions),
        "k": k,
        "limit": limit,
        "retrieval_only": retrieval_only,
        "with_choices": with_choices_text,
        "mode": None if retrieval_only else (mode or qa.settings.mode),
        "articles": report.articles,
        "chunks": report.chunks,
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return {k_: result[k_] for k_ in ("config", "retrieval", "answers", "citations", "speed", "questions")}


def format_table(report: dict[str, Any]) -> str:
    """A short plain-text table of the report's figures."""

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = []
    for block in ("retrieval", "answers", "citations", "speed"):
        items = report.get(block) or {}
        lines.append(f"{block:<10} " + "  ".join(f"{k} {fmt(v)}" for k, v in items.items()))
    return "\n".join(lines)


__all__ = [
    "EvalQuestion",
    "answer_correct",
    "answer_words",
    "citation_supports",
    "contains",
    "corpus_data_dir",
    "evaluate",
    "first_claim",
    "format_table",
    "hit_at",
    "load_questions",
    "mrr_at",
    "ndcg_at",
    "normalise",
    "percentile",
    "recall_at",
    "retrieval_scores",
    "run_eval",
    "summarise",
    "with_choices",
]

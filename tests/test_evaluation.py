"""The evaluation metrics on tiny hand-made cases, and `newsqa eval` end to end on a tiny set."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.evaluation import (
    ANSWER_KEYS,
    RETRIEVAL_KEYS,
    EvalQuestion,
    answer_correct,
    answer_words,
    citation_supports,
    contains,
    evaluate,
    first_claim,
    hit_at,
    load_questions,
    mrr_at,
    ndcg_at,
    percentile,
    ranked_articles,
    recall_at,
    run_eval,
    summarise,
    with_choices,
)

from .test_cli import _newsqa

# --- retrieval metrics ------------------------------------------------------------------------

# Passages' article ids, best first: article "a" fills two places.
RANKED = ["x", "a", "a", "y", "b", "z", "c", "d", "e", "f", "g"]


def test_article_ranking_keeps_the_first_passage_of_each_article():
    assert ranked_articles(RANKED, 5) == ["x", "a", "y", "b"]
    assert ranked_articles(RANKED, 10) == ["x", "a", "y", "b", "z", "c", "d", "e", "f"]


def test_hit_and_recall_count_articles_of_the_top_k_passages():
    assert hit_at(RANKED, ["a"], 1) == 0.0
    assert hit_at(RANKED, ["a"], 2) == 1.0
    assert hit_at(RANKED, ["b"], 4) == 0.0 and hit_at(RANKED, ["b"], 5) == 1.0
    assert hit_at(RANKED, ["g"], 10) == 0.0  # the 11th passage is outside the top 10
    assert recall_at(RANKED, ["a", "b", "g", "q"], 10) == 0.5
    assert recall_at(RANKED, [], 10) == 0.0


def test_mrr_ranks_articles_not_passages():
    assert mrr_at(RANKED, ["x"], 10) == 1.0
    assert mrr_at(RANKED, ["y"], 10) == pytest.approx(1 / 3)  # x, a, y: the second "a" takes no rank
    assert mrr_at(RANKED, ["b", "y"], 10) == pytest.approx(1 / 3)
    assert mrr_at(RANKED, ["g"], 10) == 0.0


def test_ndcg_with_binary_relevance():
    assert ndcg_at(["a", "b"], ["a"], 10) == 1.0
    # One relevant article at article rank 2: 1/log2(3).
    assert ndcg_at(["x", "a"], ["a"], 10) == pytest.approx(1 / 1.584962500721156)
    # Two relevant, found at ranks 1 and 3 of three: (1 + 1/2) / (1 + 1/log2(3)).
    assert ndcg_at(["a", "x", "b"], ["a", "b"], 10) == pytest.approx(1.5 / (1 + 1 / 1.584962500721156))
    assert ndcg_at(["x", "y"], ["a"], 10) == 0.0


# --- answers and citations --------------------------------------------------------------------


def q(**kw) -> EvalQuestion:
    base = {"id": "q1", "question": "Which country is Pope Leo XIV from?", "answers": ["United States"], "evidence_ids": ["d1"]}
    return EvalQuestion(**{**base, **kw})


def test_contains_matches_whole_normalised_words():
    assert contains("He is from the United States.", "united states")
    assert contains("Zürich, 27,000 people", "Zurich 27000")
    assert not contains("It was not clear.", "no")
    assert not contains("anything", "")


def test_answer_accuracy_plain_and_strict():
    mc = q(choices=["Italy", "Argentina", "France", "United States"])
    assert answer_correct(mc, "The first pope from the United States.", abstained=False)
    assert answer_correct(mc, "The first pope from the United States.", abstained=False, strict=True)
    both = "Not from Italy but from the United States."
    assert answer_correct(mc, both, abstained=False) and not answer_correct(mc, both, abstained=False, strict=True)
    assert not answer_correct(mc, "The first pope from the United States.", abstained=True)
    assert not answer_correct(mc, "He is from Peru.", abstained=False)


def test_unanswerable_questions_are_answered_by_abstaining():
    none = q(answers=["not in the sources"], evidence_ids=[])
    assert answer_correct(none, "The indexed articles don't say.", abstained=True)
    assert not answer_correct(none, "It grew by 10%.", abstained=False)


def test_citations_need_the_evidence_or_a_gold_answer_not_a_label():
    fact = "The 69-year-old Chicago native was chosen by 133 cardinal electors."
    cq = q(evidence_text=[fact])
    assert citation_supports(f"Earlier text. {fact} Later text.", cq)
    assert citation_supports("He is the first pope from the United States.", cq)
    assert not citation_supports("The conclave met in Rome.", cq)
    yes_no = q(answers=["no"], evidence_text=["Google pays Apple to be the default."])
    assert not citation_supports("There is no such deal.", yes_no)
    assert citation_supports("Google pays Apple to be the default.", yes_no)


def test_the_first_claim_is_the_text_before_the_first_mark():
    text = "The Eagles won Super Bowl LIX [1]. The Chiefs lost [2]."
    assert first_claim(text) == "The Eagles won Super Bowl LIX "
    assert first_claim("No marks here.") == "No marks here."
    assert answer_words(text) == 9  # marks are not words
    eagles = q(answers=["Philadelphia Eagles", "Eagles"])
    assert answer_correct(eagles, first_claim(text), abstained=False)
    assert not answer_correct(eagles, first_claim("The Chiefs lost [1]. The Eagles won [2]."), abstained=False)


def test_accuracy_first_and_words_p50_read_the_lead_of_answered_answerable_questions():
    def rec(evidence, correct_first, words, abstained=False):
        answer = {"text": "x", "abstained": abstained, "correct": correct_first, "correct_strict": correct_first,
                  "correct_first": correct_first, "words": words, "citations": []}
        return _record(evidence, answer)

    s = summarise([rec(["d"], True, 20), rec(["d"], False, 40), rec(["d"], False, 0, abstained=True), rec([], False, 30)])
    a = s["answers"]
    # 1 of the 2 answered answerable questions leads with a gold answer; the abstention is not counted.
    assert a["accuracy_first"] == 0.5 and a["answerable_answered"] == round(2 / 3, 4)
    assert a["words_p50"] == 30.0  # over the answered questions: 20, 30, 40


def test_with_choices_reads_like_a_typed_question():
    assert with_choices("Which country?", ["Italy", "France", "Peru"]) == "Which country? Is it Italy, France or Peru?"
    assert with_choices("Which country?", []) == "Which country?"


def test_percentile_interpolates():
    assert percentile([], 50) is None
    assert percentile([10.0], 95) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(list(map(float, range(101))), 95) == 95.0


def _record(evidence, answer=None, retrieval=None, query_ms=1.0):
    return {"evidence_ids": evidence, "retrieval": retrieval, "answer": answer, "query_ms": query_ms, "answer_ms": None}


def test_summary_of_answers_abstentions_and_citations():
    good = {"text": "x", "abstained": False, "correct": True, "correct_strict": False,
            "citations": [{"supports": True}, {"supports": False}]}
    wrong_abstain = {"text": "x", "abstained": True, "correct": False, "correct_strict": False, "citations": []}
    right_abstain = {"text": "x", "abstained": True, "correct": True, "correct_strict": True, "citations": []}
    missed = {"text": "x", "abstained": False, "correct": False, "correct_strict": False, "citations": [{"supports": False}]}
    s = summarise([_record(["d"], good), _record(["d"], wrong_abstain), _record([], right_abstain), _record([], missed)])
    assert s["answers"] == {"accuracy": 0.5, "accuracy_strict": 0.25, "accuracy_first": 0.0, "words_p50": None,
                            "answered_rate": 0.5, "answerable_answered": 0.5,
                            "abstention_precision": 0.5, "abstention_recall": 0.5, "n": 4}
    # Only the answered answerable question counts: 1 of its 2 citations supports it.
    assert s["citations"] == {"precision": 0.5, "recall": 1.0}
    assert s["retrieval"]["n"] == 0 and s["speed"]["answer_ms_p50"] is None


@dataclass
class _P:
    article_id: str


class _ListSearcher:
    """Returns fixed rankings and records the dates it was given."""

    def __init__(self, rankings: dict[str, list[str]]) -> None:
        self.rankings, self.todays = rankings, []

    def retrieve(self, query, k=10, *, today=None):
        self.todays.append(today)
        return [_P(a) for a in self.rankings[query][:k]]


def test_evaluate_averages_over_questions_with_evidence():
    qs = [q(id="1", question="one", evidence_ids=["a"], question_date="2025-01-02"),
          q(id="2", question="two", evidence_ids=["b"]),
          q(id="3", question="three", evidence_ids=[])]
    searcher = _ListSearcher({"one": ["a", "x"], "two": ["x", "y", "b"], "three": ["a"]})
    report = evaluate(qs, searcher, progress=False)
    r = report["retrieval"]
    assert tuple(r) == RETRIEVAL_KEYS
    assert r["n"] == 2 and r["hit@1"] == 0.5 and r["mrr@10"] == pytest.approx((1 + 1 / 3) / 2, abs=1e-4)
    assert searcher.todays == ["2025-01-02", None, None]
    assert report["answers"]["n"] == 0 and report["questions"][2]["retrieval"] is None


def test_bad_question_files_get_a_clear_error(tmp_path: Path):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "no id"}\n')
    with pytest.raises(ValueError, match=r"q.jsonl:1 .*'id'"):
        load_questions(bad)


# --- end to end on a tiny set, with the real index and embedding model ------------------------

ARTICLES = [
    {"id": "pope", "title": "Cardinals elect first American pope", "source": "Example News", "published_at": "2025-05-08",
     "text": "Cardinal Robert Prevost of Chicago was elected pope on Thursday and took the name Leo XIV. "
             "He is the first pope from the United States."},
    {"id": "bridge", "title": "River bridge reopens", "source": "Town Herald", "published_at": "2025-05-01",
     "text": "The old river bridge reopened to traffic after two years of repairs costing 12 million euros."},
    {"id": "storm", "title": "Storm closes schools", "source": "Town Herald", "published_at": "2025-04-20",
     "text": "A winter storm closed all schools in the district for three days."},
]
QUESTIONS = [
    {"id": "q-pope", "question": "Which country is Pope Leo XIV from?", "answer": "United States",
     "evidence_ids": ["pope"], "evidence_text": ["He is the first pope from the United States."], "type": "mc",
     "choices": ["Italy", "Argentina", "United States"], "question_date": "2025-05-10"},
    {"id": "q-bridge", "question": "How much did the repairs of the river bridge cost?", "answer": ["12 million euros"],
     "evidence_ids": ["bridge"], "evidence_text": [], "type": "extractive"},
    {"id": "q-none", "question": "Who won the chess championship in Oslo?", "answer": "not in the sources",
     "evidence_ids": [], "evidence_text": [], "type": "unanswerable"},
]


@pytest.fixture
def tiny_set(tmp_path: Path) -> tuple[Path, Path]:
    corpus, questions = tmp_path / "corpus.jsonl", tmp_path / "questions.jsonl"
    corpus.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES))
    questions.write_text("".join(json.dumps(x) + "\n" for x in QUESTIONS))
    return corpus, questions


def test_run_eval_answers_and_cites_through_the_python_api(tiny_set, fresh):
    corpus, questions = tiny_set
    report = run_eval(fresh, corpus, questions, progress=False)
    assert report["retrieval"]["n"] == 2 and report["retrieval"]["hit@1"] == 1.0
    by_id = {r["id"]: r for r in report["questions"]}
    assert by_id["q-pope"]["answer"]["correct"] and by_id["q-pope"]["answer"]["citations"][0]["supports"]
    assert by_id["q-none"]["answer"]["abstained"] and by_id["q-none"]["answer"]["correct"]
    assert report["answers"]["abstention_recall"] == 1.0 and report["citations"]["recall"] == 1.0
    assert report["speed"]["answer_ms_p50"] > 0
    # A rerun reuses the index: nothing is ingested twice.
    again = run_eval(fresh, corpus, questions, retrieval_only=True, progress=False, on_ingest=lambda r: setattr(fresh, "_last", r))
    assert fresh._last.added == 0 and fresh._last.unchanged == 3
    assert again["answers"]["n"] == 0 and again["speed"]["answer_ms_p50"] is None


def test_eval_command_writes_the_report(tiny_set, tmp_path: Path):
    corpus, questions = tiny_set
    out = tmp_path / "report.json"
    r = _newsqa(["eval", "--corpus", str(corpus), "--questions", str(questions), "--retrieval-only", "--with-choices",
                 "--out", str(out)], tmp_path, tmp_path / "data")
    assert r.returncode == 0, r.stderr
    assert "mrr@10" in r.stdout
    report = json.loads(out.read_text())
    assert tuple(report["retrieval"]) == RETRIEVAL_KEYS and tuple(report["answers"]) == ANSWER_KEYS
    assert set(report["citations"]) == {"precision", "recall"}
    assert set(report["speed"]) == {"query_ms_p50", "query_ms_p95", "answer_ms_p50"}
    assert report["questions"][0]["question"].endswith("Is it Italy, Argentina or United States?")
    assert report["retrieval"]["hit@1"] == 1.0
    # The index went to a folder of its own under the data directory.
    assert any((tmp_path / "data" / "eval").iterdir())

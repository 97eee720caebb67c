"""The weights and thresholds of every answer decision, in one place (calibrated with `newsqa eval` on dev sets)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Tuning:
    """Weights and thresholds of the evidence score; calibrated with `newsqa eval` on dev sets."""

    dense_weight: float = 0.55
    lexical_weight: float = 0.45
    rank_penalty: float = 0.01
    min_score: float = 0.30  # below this the best sentence does not answer the question
    min_key_coverage: float = 0.5  # share of the question's names and numbers the passages must hold
    support_precision: float = 0.75  # share of a model sentence's words its sources (or the question) must hold
    support_dense: float = 0.50  # ... and how close in meaning its closest source sentence must be
    cross_passage_margin: float = 0.1  # ... this much more when the claim rests on sentences of several passages
    support_precision_all: float = 0.9  # ... or nearly every word, when the meaning is at least unsettled_dense
    unsettled_precision: float = 0.4  # below support_* but at least these: a judge may decide (else refused)
    unsettled_dense: float = 0.35
    support_sentences: int = 3  # a claim may rest on this many sentences of its cited passages
    support_candidates: int = 5  # source sentences tried as the one a claim rests on most
    unsupported_run: int = 4  # this many claim words in a row, all but one in no source: an added clause (0: off)
    bare_terms: int = 4  # a model sentence of at most this many content words is a bare answer
    bare_names: float = 0.5  # ... whose source sentence holds this share of the names the question asks about
    follow_ratio: float = 0.55  # a leaning sentence joins if it scores this share of the best
    second_ratio: float = 0.45  # another sentence joins if it scores this share of the best
    other_ratio: float = 0.8  # ... and this share when it comes from another article than the best
    max_groups: int = 3
    # Lead with the answer (extractive): one quote that states what was asked, the other close
    # sentences as context; a near-miss when none does (BENCHMARKS.md, issue 16).
    lead_first: bool = False
    lead_in_quotes: bool = True  # the quoted answer opens with the lead-first choice, the other quotes after it as before
    lead_ratio: float = 0.6  # the lead is one of the sentences scoring at least this share of the best ...
    lead_pool: int = 8  # ... and among the best this many
    lead_about: bool = True  # ... from an article naming something the question names (outside its wh-phrase)
    lead_kind_weight: float = 0.2  # its lead value: the score, plus this when it holds the asked kind (a date, number, name)
    lead_dense_weight: float = 0.2  # ... plus this times its closeness in meaning to the question
    lead_focus_weight: float = 0.1  # ... plus this times the share of the question's own words it carries
    lead_open_weight: float = 0.05  # ... plus this when it opens its passage
    lead_verb_weight: float = 0.2  # ... plus this when it says the verb asked about as a verb ("the militants control")
    lead_recent_weight: float = 0.1  # ... plus this when its article is of the day asked, less as it ages
    recent_days: float = 14.0  # ... to nothing at this many days old
    near_miss: bool = True  # when no close sentence states what was asked, say so (False: lead with the best one anyway)
    relation_share: float = 0.5  # it says the verb asked about ("commanded") and this share of the other words asked about
    relation_dense: float = 0.5  # ... or its meaning is this close to the question's (a question of no particular kind)
    relation_dense_kind: float = 0.65  # ... or this close, for a question asking a date, number or name
    topic_credit: float = 0.6  # a name found in the sentence's article, not the sentence
    date_weight: float = 0.25  # bonus when the article's date is in a period the question names
    type_weight: float = 0.1  # bonus when the sentence offers the kind of answer asked for (a number, a name)
    source_weight: float = 0.1  # bonus when the question names the article's outlet ("the TechCrunch report")
    common_share: float = 0.1  # a name in this share of the indexed chunks counts as found (key coverage)
    common_min_chunks: int = 200  # ... once the index is this large (in a small one, shares mean little)
    question_penalty: float = 0.2  # an article's own question ("Why do we celebrate Thanksgiving?") answers nothing


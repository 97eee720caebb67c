"""The extractive composer: which retrieved sentences make the answer, and in what order.

The embedded model is too weak to write answers, so by default the answer is quoted from the
sources; `extractive` turns the chosen sentences into answer sentences and citations.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from ingest.terms import QUESTION_WORDS, terms

from ..models import AnswerSentence, Citation
from .asked import (
    answer_spans,
    asked_kind,
    asked_relation,
    asks_wh,
    holds_what_is_asked,
    relation_roots,
    says_relation,
    which_noun,
)
from .citing import citation_for, dated_after, inert_marks
from .evidence import Evidence, leans_back, same_claim
from .question import acronyms, asked_sentence, key_term_set
from .tuning import Tuning


@dataclass
class Selection:
    """Sentences chosen for an answer: groups of adjacent sentences, one citation each."""

    groups: list[list[Evidence]]
    lead: bool = False  # the first group is the answer's lead: its sentences read as one claim, cited once


def choose_evidence(ranked: list[Evidence], tuning: Tuning) -> Selection:
    """The best sentences (each with the sentence it leans on or that leans on it), best first.

    A sentence joins the answer when it scores at least `second_ratio` of the best, says
    something the chosen ones don't, and `max_groups` isn't reached.
    """
    best = ranked[0]
    by_pos = {(e.passage.chunk_id, e.order): e for e in ranked}
    groups: list[list[Evidence]] = []
    used: set[tuple[str, int]] = set()
    for e in ranked:
        if len(groups) >= tuning.max_groups or e.score < tuning.second_ratio * best.score:
            break
        if e is not best and e.focus == 0.0:
            continue  # without any of the question's words it answers something else
        if e.passage.article_id != best.passage.article_id and e.score < tuning.other_ratio * best.score:
            continue
        if (e.passage.chunk_id, e.order) in used or any(same_claim(e.text, g.text) for grp in groups for g in grp):
            continue
        group = [e]
        prev = by_pos.get((e.passage.chunk_id, e.order - 1))
        if prev is not None and leans_back(e.text) and (prev.passage.chunk_id, prev.order) not in used:
            group.insert(0, prev)
        nxt = by_pos.get((e.passage.chunk_id, e.order + 1))
        if (
            nxt is not None
            and leans_back(nxt.text)
            and nxt.score >= tuning.follow_ratio * e.score
            and (nxt.passage.chunk_id, nxt.order) not in used
        ):
            group.append(nxt)
        used.update((g.passage.chunk_id, g.order) for g in group)
        groups.append(group)
    return Selection(groups)



def order_newest_first(selection: Selection, today: str | None = None) -> Selection:
    """Groups from dated articles newest first (undated keep their place after them).

    Newest means newest as of `today`: an article dated after the day asked (by more than a day,
    as retrieval's `later_weight` counts it) is not news the asker could have read, so it follows
    the others, in its place, instead of leading them.
    """
    later = [g for g in selection.groups if g[0].passage.date and dated_after(g[0].passage.date, today)]
    groups = [g for g in selection.groups if not any(g is x for x in later)]
    dated = [g for g in groups if g[0].passage.date]
    if len({g[0].passage.date for g in dated}) >= 2:
        groups = sorted(dated, key=lambda g: g[0].passage.date or "", reverse=True) + [g for g in groups if not g[0].passage.date]
    return Selection(groups + later)


def extractive(selection: Selection) -> tuple[list[AnswerSentence], list[Citation]]:
    """Answer sentences quoted from the sources, each group cited once (the Citation keeps the exact quote)."""
    sentences, citations = [], []
    for n, group in enumerate(selection.groups, start=1):
        citations.append(citation_for(n, group))
        if n == 1 and selection.lead and len(group) > 1:
            text = " ".join(inert_marks(e.text) for e in group)
            sentences.append(AnswerSentence(text=text, citations=[n], support="quoted", score=round(max(e.score for e in group), 3)))
            continue
        for e in group:
            sentences.append(AnswerSentence(text=inert_marks(e.text), citations=[n], support="quoted", score=round(e.score, 3)))
    return sentences, citations


# --- leading with the answer (Tuning.lead_first) ----------------------------------------------


@dataclass
class Lead:
    """The lead-first composition: the answer's quote (one sentence, two at most, of one passage),
    the answering words in it, and the other close sentences as context (not answer text).

    `group` is empty for a near-miss: the passages hold the topic but no close sentence states the fact.
    """

    group: list[Evidence]
    context: list[list[Evidence]]
    span: tuple[int, int] | None = None  # the answering words, article offsets
    kind: str | None = None


def _states(e: Evidence, question: str, kind: str | None, relation: list[str], who: bool, tuning: Tuning,
            kind_beside: bool = False) -> bool:
    """Whether a sentence states what was asked: something of the asked kind, the verb asked about
    (or a meaning this close to the question's), and the question's own numbers, months and negation.
    With `kind_beside`, the asked kind may be in a sentence next to it (checked by the caller)."""
    if not says_relation(relation, e.text, tuning.relation_share):
        if e.dense < (tuning.relation_dense if kind is None else tuning.relation_dense_kind):
            return False
    if not holds_what_is_asked(question, e.text, e.passage.date):
        return False
    return kind is None or kind_beside or bool(answer_spans(kind, e.text, question)) or (who and bool(relation))


def recency(date: str | None, today: str | None, days: float) -> float:
    """1.0 for an article of `today`, falling to 0.0 at `days` old (and for undated or later articles)."""
    if not date or not today or days <= 0:
        return 0.0
    try:
        age = (_day(today) - _day(date)).days
    except ValueError:
        return 0.0
    return max(0.0, 1.0 - age / days) if age >= 0 else 0.0


def _day(iso: str) -> datetime.date:
    return datetime.date.fromisoformat(iso[:10])


def lead_value(e: Evidence, question: str, kind: str | None, tuning: Tuning, today: str | None = None) -> float:
    """How good a lead a sentence makes: its score, plus holding the asked kind, a meaning close to the
    question's, opening its passage (news states the fact first and explains after) and being news
    as of the day asked (a quiz's "this week", a reader's "now")."""
    holds = 1.0 if kind is not None and answer_spans(kind, e.text, question) else 0.0
    opens = 1.0 if e.order == 0 and not leans_back(e.text) else 0.0
    return (
        e.score
        + tuning.lead_kind_weight * holds
        + tuning.lead_dense_weight * e.dense
        + tuning.lead_focus_weight * e.focus
        + tuning.lead_open_weight * opens
        + tuning.lead_recent_weight * recency(e.passage.date, today, tuning.recent_days)
    )


def choose_lead(ranked: list[Evidence], question: str, tuning: Tuning, today: str | None = None) -> Lead:
    """The lead: of the sentences within `lead_ratio` of the best score (at most `lead_pool`), the one
    with the best `lead_value` that states what was asked; a yes/no question leads with its best
    sentence. When the lead holds nothing of the asked kind, a sentence of the same passage that does
    joins it. The rest are context, the default composer's way (`choose_evidence`)."""
    pool = [e for e in ranked if not e.control]
    if not pool:
        return Lead([], [])
    kind = asked_kind(question)
    by_pos = {(e.passage.chunk_id, e.order): e for e in ranked}
    best = pool[0]
    close = [e for e in pool[: tuning.lead_pool] if e.score >= tuning.lead_ratio * best.score]
    if not asks_wh(question):
        found = close[:1]  # "Did the Verge report ...?" is weighed across articles, not read from one
    else:
        relation = asked_relation(question)
        who = bool(re.match(r"(?i)\s*(who|whom)\b", asked_sentence(question)))
        # A close sentence from an article that never names what the question names is about
        # something else ("The city would become the centre of ..." for "What city did Khanbaliq become?").
        named = _named(question) if tuning.lead_about else set()
        if named:
            told = _article_terms(ranked)
            close = [e for e in close if named & told[e.passage.article_id]]
        found = [e for e in close if e.match >= tuning.min_score and _states(e, question, kind, relation, who, tuning)]
        if not found and kind is not None:
            # The fact told across two sentences: "The digital currency ... surpassed the milestone"
            # then "Considered the first successful cryptocurrency, Bitcoin was valued at ...". A
            # sentence stating the rest leads when a sentence beside it holds the asked kind.
            found = [e for e in close if e.match >= tuning.min_score and _states(e, question, kind, relation, who, tuning, kind_beside=True)
                     and any(answer_spans(kind, n.text, question) for n in _beside(e, by_pos))]
    if not found and not tuning.near_miss:
        found = [e for e in close if e.match >= tuning.min_score] or close[:1]
    if not found:
        context = choose_evidence(ranked, tuning).groups
        return Lead([], context, None, kind)
    relation = asked_relation(question)

    def value(e: Evidence) -> float:
        # Saying it with the question's verb ("the militants control") states it; "under the control of" describes.
        verbal = bool(relation) and relation[-1] in relation_roots(e.text, as_verb=True)
        return lead_value(e, question, kind, tuning, today) + tuning.lead_verb_weight * verbal

    lead = max(found, key=value)
    group = [lead]
    prev = by_pos.get((lead.passage.chunk_id, lead.order - 1))
    if prev is not None and not prev.control and leans_back(lead.text):
        group.insert(0, prev)  # "They still control ..." needs its subject
    elif kind is not None and not answer_spans(kind, lead.text, question):
        # The lead says it without the answer's words ("The militants control ..."): a close
        # sentence of the same passage that holds them joins it.
        more = [e for e in found if e is not lead and e.passage.chunk_id == lead.passage.chunk_id and answer_spans(kind, e.text, question)]
        more = more or [e for e in _beside(lead, by_pos) if not e.control and answer_spans(kind, e.text, question)]
        if more:
            group = sorted([lead, more[0]], key=lambda e: e.order)
    used = {(g.passage.chunk_id, g.order) for g in group}
    rest = [e for e in ranked if (e.passage.chunk_id, e.order) not in used and not any(same_claim(e.text, g.text) for g in group)]
    context = choose_evidence(rest, tuning).groups[: max(tuning.max_groups - 1, 0)] if rest else []
    # The answering words are in the lead, or in the sentence beside it that holds the asked kind.
    holder = next((e for e in [lead, *group] if kind is not None and answer_spans(kind, e.text, question)), lead)
    return Lead(group, context, answer_span(holder, question, kind), kind)


def _named(question: str) -> set[str]:
    """The names the question asks about, as index terms (its numbers are checked per sentence, by
    `holds_what_is_asked`). A name in the wh-phrase says what kind of thing the answer is ("Which
    US drug store chain ...?", "Which NFL team ...?"), not what the question is about: left out."""
    asked = asked_sentence(question)
    m = _WH_NAMES.match(asked)
    kind_words = set(terms(m.group(1))) if m else set()
    return {t for t in key_term_set(asked) - kind_words if not any(ch.isdigit() for ch in t)}


# Capitalised words just after the opening "which"/"what": the answer's kind, not the subject.
_WH_NAMES = re.compile(r"^\W*(?:(?i:in|on|at|by|for|from|to|of|with)\s+)?(?:[Ww]hich|[Ww]hat)\s+((?:[A-Z][\w.’'-]*\s+)+)")


def _article_terms(ranked: list[Evidence]) -> dict[str, set[str]]:
    """Each article's terms, from its title and every passage of it that was retrieved: whether
    the article is about what the question names ("the city" in one passage, "Deir Ezzor" in the
    next). Dotted abbreviations count as the question types them ("U.S." is "US")."""
    texts: dict[str, dict[str, str]] = {}
    for e in ranked:
        texts.setdefault(e.passage.article_id, {}).setdefault(e.passage.chunk_id, f"{e.passage.title or ''} {e.passage.text}")
    return {a: set(terms(" ".join(t.values()))) | acronyms(" ".join(t.values())) for a, t in texts.items()}


def _beside(e: Evidence, by_pos: dict[tuple[str, int], Evidence]) -> list[Evidence]:
    """The sentences just before and after `e` in its passage, of those scored (`by_pos`: by passage
    and order), best first as in the ranking."""
    return sorted((n for n in (by_pos.get((e.passage.chunk_id, e.order + d)) for d in (-1, 1)) if n is not None),
                  key=lambda n: -n.score)


def answer_span(e: Evidence, question: str, kind: str | None) -> tuple[int, int] | None:
    """The answering words of a sentence (article offsets): the span of the asked kind nearest the
    question's own words in it."""
    spans = answer_spans(kind, e.text, question)
    if not spans:
        return None
    head = which_noun(question)
    if head:
        # "Which city ...?" is answered by the name the sentence calls a city: "the city of Palmyra", "Palmyra city",
        # "the Syrian city, Palmyra".
        called = [(a, b) for a, b in spans if re.search(rf"\b{re.escape(head)}(?:\s+of|,)?\s+(?:the\s+)?$", e.text[:a].lower())]
        called += [(a, b) for a, b in spans if re.match(rf"\s+{re.escape(head)}\b", e.text[b:].lower())]
        if called:  # "the city of Palmyra" before "the Syrian city"
            return e.start + called[0][0], e.start + called[0][1]
    wanted = {t for t in terms(question) if t not in QUESTION_WORDS}
    hits = [m.start() for m in re.finditer(r"[\w’'-]+", e.text) if set(terms(m.group(0))) & wanted]
    a, b = min(spans, key=lambda s: min((min(abs(h - s[0]), abs(h - s[1])) for h in hits), default=0))
    return e.start + a, e.start + b


def lead_answer(lead: Lead) -> tuple[list[AnswerSentence], list[Citation], list[Citation]]:
    """The answer's one quote, cited once with its answering words marked, and the context cards
    (numbered after it, cited by no answer sentence)."""
    sentences, citations = [], []
    if lead.group:
        c = citation_for(1, lead.group)
        if lead.span is not None and c.start <= lead.span[0] <= lead.span[1] <= c.end:
            c.answer_span = list(lead.span)
        citations.append(c)
        text = " ".join(inert_marks(e.text) for e in lead.group)
        sentences.append(AnswerSentence(text=text, citations=[1], support="quoted", score=round(lead.group[-1].score, 3)))
    context = [citation_for(len(citations) + i, g) for i, g in enumerate(lead.context, start=1)]
    return sentences, citations, context


def lead_the_quotes(selection: Selection, lead: Lead, tuning: Tuning, today: str | None = None) -> Selection:
    """The default composer's quotes with the lead-first choice first: its group, then the other
    groups in their order (those sharing a sentence with it left out), `max_groups` in all."""
    if not lead.group:
        return selection
    # Sources of several dates may disagree (a city held by one side, then the other): the newest
    # leads, so a lead from an older article than the quotes' newest leaves them as they are.
    newest = max((g[0].passage.date for g in selection.groups if g[0].passage.date and not dated_after(g[0].passage.date, today)),
                 default=None)
    if newest is not None and ((lead.group[0].passage.date or "") < newest or dated_after(lead.group[0].passage.date or "", today)):
        return selection

    def keys(group: list[Evidence]) -> set[tuple[str, int]]:
        return {(e.passage.chunk_id, e.order) for e in group}

    taken = keys(lead.group)
    first = list(lead.group)
    for g in selection.groups:
        if taken & keys(g):  # the quotes already hold the lead, with the sentence that leans on it: keep them together
            extra = [e for e in g if (e.passage.chunk_id, e.order) not in taken]
            first = sorted(first + extra, key=lambda e: e.order)
            taken |= keys(extra)
    rest = [g for g in selection.groups if not taken & keys(g)]
    return Selection([first, *rest][: tuning.max_groups], lead=True)

"""Grounded answers: evidence sentences, the extractive composer and the citation check.

The embedded model is small and often wrong, so nothing it writes is shown unless a retrieved
sentence supports it. The same sentence-level evidence drives the extractive answer, the check
of model-written sentences, and the decision to abstain.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ingest.chunking import split_sentences
from ingest.keyword import KeywordIndex
from ingest.store import Passage
from ingest.terms import MONTHS, QUESTION_WORDS, fold, numbers, terms, words
from ingest.variants import covered_terms

from .models import AnswerSentence, Citation

ABSTAIN_TEXT = "The indexed articles don't say."

# Sentences that lean on the one before ("However, they ...") are shown with it.
_LEANS_BACK = re.compile(
    r"^(however|but|still|yet|they|it|he|she|this|that|these|those|their|its|his|her|meanwhile|also|"
    r"instead|still|there)\b",
    re.IGNORECASE,
)


def leans_back(sentence: str) -> bool:
    """Whether the sentence needs the one before it to be understood ("They are 37-45-2 in those games.")."""
    return bool(_LEANS_BACK.match(sentence))


@dataclass
class Evidence:
    """A sentence of a retrieved passage; start/end are offsets into the article text."""

    passage: Passage
    rank: int  # the passage's retrieval rank
    text: str
    start: int
    end: int
    order: int  # position of the sentence within its passage
    dense: float = 0.0
    lexical: float = 0.0
    focus: float = 0.0  # share of the question's non-name words in this very sentence
    offers: float = 0.0  # 1.0 when the sentence holds something of the kind the question asks for
    match: float = 0.0  # how well the sentence's words and meaning answer the question
    score: float = 0.0  # match plus preferences (the outlet, period and kind of answer asked for)


@dataclass
class Tuning:
    """Weights and thresholds of the evidence score; calibrated with `newsqa eval` on dev sets."""

    dense_weight: float = 0.55
    lexical_weight: float = 0.45
    rank_penalty: float = 0.01
    min_score: float = 0.30  # below this the best sentence does not answer the question
    min_key_coverage: float = 0.5  # share of the question's names and numbers the passages must hold
    support_precision: float = 0.75  # share of a model sentence's words its source must hold
    support_dense: float = 0.55
    bare_terms: int = 4  # a model sentence of at most this many content words is a bare answer
    bare_names: float = 0.5  # ... whose source sentence holds this share of the names the question asks about
    follow_ratio: float = 0.55  # a leaning sentence joins if it scores this share of the best
    second_ratio: float = 0.45  # another sentence joins if it scores this share of the best
    other_ratio: float = 0.8  # ... and this share when it comes from another article than the best
    max_groups: int = 3
    topic_credit: float = 0.6  # a name found in the sentence's article, not the sentence
    date_weight: float = 0.25  # bonus when the article's date is in a period the question names
    type_weight: float = 0.1  # bonus when the sentence offers the kind of answer asked for (a number, a name)
    source_weight: float = 0.1  # bonus when the question names the article's outlet ("the TechCrunch report")
    common_share: float = 0.1  # a name in this share of the indexed chunks counts as found (key coverage)
    common_min_chunks: int = 200  # ... once the index is this large (in a small one, shares mean little)
    question_penalty: float = 0.2  # an article's own question ("Why do we celebrate Thanksgiving?") answers nothing


def named_periods(question: str) -> list[tuple[int | None, int | None, int | None]]:
    """(year, month, day) periods the question names: "on October 7, 2023" -> [(2023, 10, 7)],
    "in October 2017" -> [(2017, 10, None)], "in 2019" -> [(2019, None, None)], "2023-11-24" -> [(2023, 11, 24)]."""
    q = fold(question)
    out: list[tuple[int | None, int | None, int | None]] = []
    for m in re.finditer(r"\b(\d{4})-(\d{2})-(\d{2})\b", q):
        out.append((int(m.group(1)), int(m.group(2)), int(m.group(3))))
    months = "|".join(MONTHS)
    for m in re.finditer(rf"\b({months})\b(?:\s+(\d{{1,2}})(?:st|nd|rd|th)?\b,?)?(?:\s+(?:of\s+)?(\d{{4}}))?", q):
        if m.group(1) == "may" and not (m.group(2) or m.group(3)):
            continue  # "may" is usually the verb
        out.append((int(m.group(3)) if m.group(3) else None, MONTHS[m.group(1)], int(m.group(2)) if m.group(2) else None))
    named_years = {y for y, _, _ in out}
    for m in re.finditer(r"\b(19\d{2}|20\d{2})\b", q):
        if int(m.group(1)) not in named_years:
            out.append((int(m.group(1)), None, None))
    return out


def date_affinity(periods: list[tuple[int | None, int | None, int | None]], date: str | None) -> float:
    """1.0 when the article's date falls in a period the question names, else 0.0."""
    if not periods or not date:
        return 0.0
    try:
        year, month, day = int(date[:4]), int(date[5:7]), int(date[8:10]) if len(date) >= 10 else None
    except ValueError:
        return 0.0
    return 1.0 if any(
        (y is None or y == year) and (m is None or m == month) and (d is None or d == day) for y, m, d in periods
    ) else 0.0


# What a question asks for, read from its last sentence (quiz questions open with a preamble).
_ASKS_NUMBER = re.compile(
    r"\b(how (many|much|long|old|far|often|big|large|tall|high|fast)|what (year|percentage|percent|number|age|amount|share|"
    r"proportion|price|rate|total|temperature|score|date|day|month|decade|century)|in (what|which) (year|month|decade)|when)\b",
    re.I,
)
_ASKS_NAME = re.compile(
    r"\b(who|whom|whose|where|(which|what) (country|countries|state|city|town|nation|company|companies|team|party|"
    r"organi[sz]ation|group|agency|network|brand|airline|university|school|person|man|woman|player|singer|actor|actress|"
    r"artist|band|film|movie|show|book|song|album|region|province|island|river|continent|county|leader|president|"
    r"official|senator|governor|judge|court|app|platform|language|religion|event|award|game)|"
    r"what is the name|(which|what) \w+ (name|named|called))\b",
    re.I,
)
_NUMBER_WORDS = frozenset(
    "two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty hundred hundreds thousand "
    "thousands million millions billion billions trillion dozen dozens half quarter first second third".split()
)


def asked_sentence(question: str) -> str:
    """The sentence that asks: "Pope Francis died in April. Which country is Pope Leo XIV from?" -> the second."""
    parts = [p for p in re.split(r"(?<=[.?!])\s+", question.strip()) if p]
    return next((p for p in reversed(parts) if p.endswith("?")), parts[-1] if parts else "")


def answer_kind(question: str) -> str | None:
    """"number" or "name" when the question's own sentence asks for one, else None."""
    asked = asked_sentence(question)
    if _ASKS_NUMBER.search(asked):
        return "number"
    if _ASKS_NAME.search(asked):
        return "name"
    return None


def offers(kind: str | None, sentence: str, question: str) -> bool:
    """Whether the sentence holds a number or a name the question doesn't already contain."""
    if kind == "number":
        asked = set(words(question))
        return bool(numbers(sentence) - numbers(question)) or any(
            (w in _NUMBER_WORDS or w in MONTHS) and w not in asked for w in words(sentence)
        )
    if kind == "name":
        asked = set(terms(question)) | set(words(question))
        tokens = [re.split(r"['’]", tok)[0] for tok in re.findall(r"[\w’'-]+", sentence)]
        return any(
            base[:1].isupper() and (i > 0 or len(tokens) == 1) and fold(base) not in asked and not (set(terms(base)) & asked)
            for i, base in enumerate(tokens)
        )
    return False


def source_named(question_words: set[str], source: str | None) -> float:
    """1.0 when the question names the outlet: all words of its name (before any " | " or " - " tagline)."""
    if not source:
        return 0.0
    name = words(re.split(r"\s[|–—-]\s", source)[0])
    return 1.0 if name and set(name) <= question_words else 0.0


def acronyms(text: str) -> set[str]:
    """Dotted abbreviations as one word: "U.S." -> "us", "U.N." -> "un" (a question types "US")."""
    return {fold(m.replace(".", "")) for m in re.findall(r"\b(?:[A-Za-z]\.){2,}", text)}


def key_terms(question: str) -> list[str]:
    """Names and numbers in the question: capitalised words not opening a sentence, digits, quotes."""
    keys: list[str] = []
    for sentence in re.split(r"(?<=[.?!])\s+", question.strip()):
        tokens = re.findall(r"[\w’'-]+", sentence)
        for i, tok in enumerate(tokens):
            base = re.split(r"['’]", tok)[0]
            if any(ch.isdigit() for ch in base):
                keys.extend(sorted(numbers(base)) or [fold(base)])  # "16-pound" -> "16"
            elif i > 0 and base[:1].isupper() and fold(base) not in QUESTION_WORDS:
                keys.extend(terms(base))
    for quoted in re.findall(r"[\"“']([^\"”']{3,})[\"”']", question):
        keys.extend(terms(quoted))
    return list(dict.fromkeys(k for k in keys if k))


def key_term_set(text: str) -> set[str]:
    """`key_terms` as the index's terms, for comparing with a sentence's terms."""
    return set(terms(" ".join(key_terms(text))))


class EvidenceScorer:
    """Scores the sentences of retrieved passages against a question."""

    def __init__(self, embedder, keyword: KeywordIndex | None = None, tuning: Tuning | None = None, cache_size: int = 50_000) -> None:
        self.embedder = embedder
        self.keyword = keyword
        self.tuning = tuning or Tuning()
        # Sentence vectors are the cost of scoring; the same passages come back question after
        # question (follow-ups, popular stories), so recent ones are kept.
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

    def embed_sentences(self, texts: list[str]) -> np.ndarray:
        """Vectors for sentences, from the cache where possible."""
        with self._cache_lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            fresh = self.embedder.embed(missing)
            with self._cache_lock:
                for t, v in zip(missing, fresh):
                    self._cache[t] = v
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        with self._cache_lock:
            out = []
            for t in texts:
                v = self._cache.get(t)
                if v is None:  # evicted by another thread meanwhile
                    v = self.embedder.embed([t])[0]
                else:
                    self._cache.move_to_end(t)
                out.append(v)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)

    def _idf(self, term: str) -> float:
        if self.keyword is None or len(self.keyword) == 0:
            return 1.0
        # Squash index IDF so a tiny index (one article) doesn't make every unseen word decisive.
        return 1.0 + min(self.keyword.idf(term), 8.0) / 4.0

    def sentences(self, passages: list[Passage]) -> list[Evidence]:
        out = []
        for rank, p in enumerate(passages):
            for order, (a, b) in enumerate(split_sentences(p.text)):
                out.append(Evidence(p, rank, p.text[a:b], p.start + a, p.start + b, order))
        return out

    def _weighted(self, wanted: list[str], have: set[str], partial: set[str] = frozenset(), credit: float = 0.0) -> float:
        if not wanted:
            return 0.0
        weights = [self._idf(t) for t in wanted]
        got = sum(w * (1.0 if t in have else credit if t in partial else 0.0) for t, w in zip(wanted, weights))
        return got / sum(weights)

    def score(self, question: str, evidence: list[Evidence]) -> list[Evidence]:
        """Fill in dense/lexical/focus/score for each sentence; returns them best first.

        Names and numbers in the question set the topic, which the sentence's article may
        establish ("the city" in a story about Deir Ezzor); the other words are the focus,
        which the sentence itself must carry.
        """
        if not evidence:
            return []
        t = self.tuning
        q = self.embedder.embed([question])[0]
        dense = self.embed_sentences([e.text for e in evidence]) @ q
        q_terms = [x for x in dict.fromkeys(terms(question)) if x not in QUESTION_WORDS]
        keys = key_term_set(question)
        topic = [x for x in q_terms if x in keys]
        focus = [x for x in q_terms if x not in keys] or q_terms
        periods = named_periods(question)
        kind = answer_kind(question)
        asked_words = set(words(question))
        for e, d in zip(evidence, dense):
            s_terms = set(terms(e.text))
            context = self._context_terms(e.passage)
            # An article naming "Deir Ezzor" is about "Dayr az-Zawr" (topic credit; a copy, not the cache).
            context = context | covered_terms(q_terms, context)
            e.dense = float(d)
            e.focus = self._weighted(focus, s_terms)
            e.lexical = self._weighted(q_terms, s_terms, context, t.topic_credit) if topic else e.focus
            e.offers = 1.0 if offers(kind, e.text, question) else 0.0
            e.match = t.dense_weight * e.dense + t.lexical_weight * e.lexical - t.rank_penalty * e.rank
            if e.text.rstrip(" \"'”’)").endswith("?"):
                e.match -= t.question_penalty
            # Preferences rank sentences, but never make an answer out of nothing: abstention
            # reads `match` alone (a question naming an outlet is not answered by the outlet).
            e.score = (
                e.match
                + t.date_weight * date_affinity(periods, e.passage.date)
                + t.type_weight * e.offers
                + t.source_weight * source_named(asked_words, e.passage.source)
            )
        return sorted(evidence, key=lambda e: -e.score)

    def _context_terms(self, passage: Passage) -> set[str]:
        found = set(terms(" ".join(x for x in (passage.title, passage.text) if x)))
        if self.keyword is not None:
            found |= self.keyword.article_terms(passage.article_id)
        return found

    def key_coverage(self, question: str, passages: list[Passage]) -> float:
        """Share of the question's names and numbers found anywhere in the passages (1.0 if none)."""
        keys = key_terms(question)
        if not keys:
            return 1.0
        found: set[str] = set()
        for p in passages:
            text = " ".join(x for x in (p.title, p.source, p.published_at, p.text) if x)
            found |= set(terms(text)) | numbers(text) | set(words(text)) | acronyms(text)
        found |= covered_terms(terms(question), found)  # "Dayr az-Zawr" is in a text saying "Deir Ezzor"
        return sum(1 for k in keys if k in found or self._common(k)) / len(keys)

    def _common(self, key: str) -> bool:
        """A name most of the index mentions ("US" in American news) says nothing about a topic
        when the passages lack it: at least `common_share` of a large enough index holds it."""
        t = self.tuning
        return (
            self.keyword is not None
            and len(self.keyword) >= t.common_min_chunks
            and any(self.keyword.share(x) >= t.common_share for x in terms(key) or [key])
        )


@dataclass
class Selection:
    """Sentences chosen for an answer: groups of adjacent sentences, one citation each."""

    groups: list[list[Evidence]]


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


def same_claim(a: str, b: str) -> bool:
    """Whether two sentences say the same thing in nearly the same words (content-word overlap)."""
    ta, tb = set(terms(a)), set(terms(b))
    return bool(ta) and len(ta & tb) / len(ta | tb) > 0.6


_CHOICES = re.compile(
    r"^(?P<stem>.*?[?.:])\s*(?:is it|was it|is that|are they|were they|which is it|choices?:?|options?:?)\s+"
    r"(?P<list>[^?]+?)\??\s*$",
    re.I | re.S,
)


# The second half of a "City, State" choice: "Is it Plymouth, Massachusetts or Jamestown, Virginia?"
def _squashed(text: str) -> str:
    return re.sub(r"[^a-z]", "", fold(text))


_US_STATES = frozenset(_squashed(s) for s in (
    "Alabama, Alaska, Arizona, Arkansas, California, Colorado, Connecticut, Delaware, Florida, Georgia, "
    "Hawaii, Idaho, Illinois, Indiana, Iowa, Kansas, Kentucky, Louisiana, Maine, Maryland, Massachusetts, "
    "Michigan, Minnesota, Mississippi, Missouri, Montana, Nebraska, Nevada, New Hampshire, New Jersey, "
    "New Mexico, New York, North Carolina, North Dakota, Ohio, Oklahoma, Oregon, Pennsylvania, Rhode Island, "
    "South Carolina, South Dakota, Tennessee, Texas, Utah, Vermont, Virginia, Washington, West Virginia, "
    "Wisconsin, Wyoming, DC"
).split(", "))


def split_choices(question: str) -> tuple[str, list[str]]:
    """("Which country...?", ["Italy", "France"]) from "Which country...? Is it Italy or France?".

    A comma inside a number ("$5,000") does not split, and "Plymouth, Massachusetts" stays one
    choice: a US state after a place that is not itself a state is that place's state.
    """
    m = _CHOICES.match(question.strip())
    if not m:
        return question, []
    items = re.split(r",(?!\d)\s*(?:or\s+)?|\s+or\s+", m.group("list"))
    # A closing full stop goes, an abbreviation's stays ("D.C.").
    parts = [re.sub(r"(?<![A-Z]\.[A-Z])\.$", "", c.strip(" \"'“”")).strip() for c in items]
    parts = [c for c in parts if c.strip(" \"'“”.")]
    choices: list[str] = []
    i = len(parts) - 1
    while i >= 0:  # from the end: "Chicago, Washington, DC" is Chicago and Washington, DC
        state = _squashed(parts[i])
        if i > 0 and state in _US_STATES and (_squashed(parts[i - 1]) not in _US_STATES or state == "dc"):
            choices.insert(0, f"{parts[i - 1]}, {parts[i]}")
            i -= 2
        else:
            choices.insert(0, parts[i])
            i -= 1
    return (m.group("stem").strip(), choices) if len(choices) >= 2 else (question, [])


def _mentions(text: str, choice: str) -> bool:
    """Whether `text` names `choice`; "Charlotte, North Carolina" is named by "Charlotte"."""
    if "," in choice and not re.search(r"\d,\d", choice):
        choice = choice.split(",")[0]
    want = words(choice)
    while len(want) > 1 and want[0] in {"the", "a", "an"}:
        want = want[1:]
    have = words(text)
    if not want:
        return False
    n = len(want)
    return any(have[i : i + n] == want for i in range(len(have) - n + 1))


def pick_choice(choices: list[str], ranked: list[Evidence], depth: int | None = None) -> tuple[str, Evidence] | None:
    """The choice the retrieved sentences name most, weighted by score, with the sentence that names it.

    Each sentence votes with its score for every choice it names (a sentence naming several
    splits its vote); one naming none votes for the choices its article's title names ("Penn to
    erase Lia Thomas records" over "The university said ..."). All retrieved sentences vote:
    on the realtimeqa dev questions the top 12 alone picked right 76% of the time, all of them 85%.
    None when nothing names any choice.
    """
    votes: dict[str, float] = {}
    where: dict[str, tuple[tuple[bool, bool, float], Evidence]] = {}
    for e in ranked[:depth]:
        named = [c for c in choices if _mentions(e.text, c)]
        in_text = bool(named)
        if not named and e.passage.title:
            named = [c for c in choices if _mentions(e.passage.title, c)]
        for c in named:
            votes[c] = votes.get(c, 0.0) + max(e.score, 0.0) / len(named)
            # Quote the best sentence naming this choice alone, else one naming it among others.
            rank = (in_text, len(named) == 1, e.score)
            if c not in where or rank > where[c][0]:
                where[c] = (rank, e)
    if not votes:
        return None
    choice = max(votes, key=lambda c: votes[c])
    return choice, where[choice][1]


def citation_for(n: int, group: list[Evidence]) -> Citation:
    """A Citation quoting a run of adjacent sentences of one passage."""
    p = group[0].passage
    start, end = group[0].start, group[-1].end
    quote = p.text[start - p.start : end - p.start]
    return Citation(
        n=n,
        article_id=p.article_id,
        title=p.title,
        source=p.source,
        date=p.date,
        url=p.url,
        quote=quote,
        start=start,
        end=end,
        passage=p.text,
        passage_start=p.start,
    )


def inert_marks(text: str) -> str:
    """An article's own "[7]" shown as "(7)", so it can't pass for one of our citation marks."""
    return re.sub(r"\[(\d{1,3})\]", r"(\1)", text)


def extractive(selection: Selection) -> tuple[list[AnswerSentence], list[Citation]]:
    """Answer sentences quoted from the sources, each group cited once (the Citation keeps the exact quote)."""
    sentences, citations = [], []
    for n, group in enumerate(selection.groups, start=1):
        citations.append(citation_for(n, group))
        for e in group:
            sentences.append(AnswerSentence(text=inert_marks(e.text), citations=[n], support="quoted", score=round(e.score, 3)))
    return sentences, citations


def compose_text(sentences: list[AnswerSentence]) -> str:
    """Sentences with their attribution and [n] markers before the closing punctuation."""
    parts = []
    for s in sentences:
        marks = "".join(f"[{n}]" for n in s.citations)
        text = s.text.rstrip()
        m = re.search(r"([.!?][\"'”’)]*)$", text)
        body = f"{text[: m.start()]} {marks}{m.group(1)}" if m else f"{text} {marks}."
        parts.append(f"{s.attribution}: {body}" if s.attribution else body)
    return " ".join(parts)


def attribute(sentences: list[AnswerSentence], citations: list[Citation]) -> list[str]:
    """When an answer quotes several articles, say whose each claim is and when, newest first.

    Sources from different dates or outlets may disagree (a city held by one side, then the
    other); merging them into one voice would hide that. Returns notes for the Answer.
    """
    by_n = {c.n: c for c in citations}
    articles = {c.article_id for c in citations}
    if len(articles) < 2:
        return []
    newest = max((c.date for c in citations if c.date), default=None)
    first_of: set[int] = set()
    for s in sentences:
        c = by_n[s.citations[0]] if s.citations else None
        if c is None or c.n in first_of:
            continue
        first_of.add(c.n)
        who = c.source or (f"“{c.title}”" if c.title else "an article")
        when = c.date or "date unknown"
        earlier = newest is not None and c.date is not None and c.date < newest
        s.attribution = f"{'Earlier, ' if earlier else ''}{who} ({when})"
    dates = sorted({c.date for c in citations if c.date})
    notes = [f"quotes {len(articles)} articles; each claim is attributed"]
    if len(dates) > 1:
        notes.append(f"sources span {dates[0]} to {dates[-1]}: newest first, older ones marked 'Earlier'")
    return notes


def order_newest_first(selection: Selection) -> Selection:
    """Groups from dated articles newest first (undated keep their place after them)."""
    dated = [g for g in selection.groups if g[0].passage.date]
    if len({g[0].passage.date for g in dated}) < 2:
        return selection
    undated = [g for g in selection.groups if not g[0].passage.date]
    return Selection(sorted(dated, key=lambda g: g[0].passage.date or "", reverse=True) + undated)


# --- checking model-written sentences -------------------------------------------------------

_MARKER = re.compile(r"\s*\[(\d{1,3})\]")


# "The answer is: Zohran Mamdani." says "Zohran Mamdani.": the wrapper words are in no source.
_WRAPPER = re.compile(r"^(?:the\s+)?(?:short\s+|final\s+|correct\s+)?answer(?:\s+is)?\s*[:\-–—]\s*", re.I)


def split_model_text(text: str) -> list[tuple[str, list[int]]]:
    """Model output -> [(sentence without markers, cited passage numbers)]."""
    out = []
    for a, b in split_sentences(text):
        raw = text[a:b]
        cited = [int(n) for n in _MARKER.findall(raw)]
        clean = _WRAPPER.sub("", _MARKER.sub("", raw).strip())
        # "The names of the pardoned turkeys are:" introduces what follows and states nothing.
        if clean and clean not in {".", "!", "?"} and not clean.rstrip(". ").endswith(":"):
            out.append((clean, cited))
    return out


# Words that turn a claim around or into a forecast; stopword lists drop them, so they are checked
# apart: "the bakery will win" is not "the bakery won", nor "did not agree" "agreed".
_HEDGES = frozenset("not no never nor neither cannot will would may might could should shall".split())


def _hedges(text: str) -> set[str]:
    found = set()
    for w in re.findall(r"[a-z’']+", fold(text)):
        if w.endswith(("n't", "n’t")):
            found.add("not")
            w = {"won't": "will", "won’t": "will", "can't": "cannot", "can’t": "cannot"}.get(w, w[:-3])
        if w in _HEDGES:
            found.add(w)
    return found


@dataclass
class Check:
    """The verdict on one model sentence."""

    text: str
    supported: bool
    source: Evidence | None
    precision: float
    dense: float
    reason: str = ""


# A number with its currency and scale: "$5 billion" is not "$5 million", nor "21.50 cents" "$21.50".
_QUANTITY = re.compile(
    r"([$£€])?\s?(\d[\d,]*(?:\.\d+)?)\s*(%|percent\b|per cent\b|thousand\b|million\b|billion\b|bn\b|trillion\b|cents?\b)?"
    r"(?:\s+(dollars?|pounds?|euros?)\b)?",
    re.I,
)
_UNIT_NAMES = {
    "$": "dollar", "dollars": "dollar", "£": "pound", "pounds": "pound", "€": "euro", "euros": "euro",
    "%": "percent", "per cent": "percent", "bn": "billion", "cents": "cent",
}


def quantities(text: str) -> set[tuple[str, str]]:
    """(number, unit) for each unit a number is written with: "$5 billion" -> {("5", "dollar"), ("5", "billion")}."""
    out = set()
    for m in _QUANTITY.finditer(text):
        n = numbers(m.group(2)).pop()
        for unit in m.group(1, 3, 4):
            if unit:
                out.add((n, _UNIT_NAMES.get(unit.lower(), unit.lower())))
    return out


def check_sentence(
    sentence: str,
    cited: list[int],
    evidence: list[Evidence],
    embedder,
    tuning: Tuning,
    question: str = "",
) -> Check:
    """Is the sentence backed by one retrieved sentence (preferably of a passage it cites)?

    Backed means: all its names and numbers and most of its other content words are in that
    source sentence, and the two mean nearly the same (embedding similarity). A name the source
    sentence lacks may come from its article's title, but not in place of a name the sentence
    has ("The NFL has played 84 games" is not "The Lions have played 84 games"). A bare answer
    ("Krispy Kreme.") also needs most of the names `question` asks about in its source sentence:
    it claims to answer that question, and a sentence about another subject does not.
    """
    s_terms = set(terms(sentence))
    if not s_terms:
        return Check(sentence, False, None, 0.0, 0.0, "no content words")
    pool = [e for e in evidence if e.rank + 1 in cited] or evidence
    if not pool:
        return Check(sentence, False, None, 0.0, 0.0, "nothing retrieved")
    vectors = embedder.embed([sentence] + [e.text for e in pool])
    sims = vectors[1:] @ vectors[0]
    best: Check | None = None
    best_rank: tuple[float, ...] = ()
    s_numbers = numbers(sentence)
    s_quantities = quantities(sentence)
    s_names = key_term_set(sentence)
    s_hedges = _hedges(sentence)
    asked_names = key_term_set(asked_sentence(question)) if question else set()
    for e, sim in zip(pool, sims):
        own_terms = set(terms(e.text))
        e_terms = own_terms | set(terms(e.passage.title or ""))
        precision = len(s_terms & e_terms) / len(s_terms)
        e_numbers = numbers(e.text)
        numbers_ok = s_numbers <= e_numbers and s_quantities <= quantities(e.text)
        from_title = s_names - own_terms
        left_out = key_term_set(e.text) - s_terms - e_numbers
        names_ok = s_names <= e_terms and not (from_title and left_out)
        e_hedges = _hedges(e.text)
        hedges_ok = s_hedges <= e_hedges
        # A bare answer ("Zohran Mamdani.") states nothing but the question's answer: every word
        # must be in the source, which must be about what the question asks (its names) and
        # score well enough against the question (judged by the caller).
        about = len(asked_names & own_terms) / len(asked_names) if asked_names else 1.0
        bare = len(s_terms) <= tuning.bare_terms and precision == 1.0 and about >= tuning.bare_names
        similar = sim >= tuning.support_dense or bare
        ok = precision >= tuning.support_precision and similar and numbers_ok and names_ok and hedges_ok
        if ok:
            reason = ""
        elif not numbers_ok:
            reason = "numbers differ"
        elif not hedges_ok:
            reason = f"the source does not say {', '.join(sorted(s_hedges - e_hedges))}"
        elif not names_ok and s_names <= e_terms:
            reason = f"names in place of the source's: {', '.join(sorted(from_title))} for {', '.join(sorted(left_out))}"
        elif not names_ok:
            reason = f"names not in the source: {', '.join(sorted(s_names - e_terms))}"
        else:
            reason = "not in the cited passage"
        check = Check(sentence, ok, e, precision, float(sim), reason)
        # Of the sources that back it, the one that best answers the question is cited; of those
        # that don't, the closest explains the refusal.
        rank = (1.0, e.score, precision + float(sim)) if ok else (0.0, precision + float(sim))
        if best is None or rank > best_rank:
            best, best_rank = check, rank
    assert best is not None
    return best


"""Evidence: the sentences of the retrieved passages, scored against the question.

The same sentence-level evidence drives the extractive answer, the check of model-written
sentences and the decision to abstain. Sentence vectors are cached here.
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
from ingest.terms import QUESTION_WORDS, numbers, terms, words
from ingest.variants import VariantSource, covered_terms

from .question import acronyms, answer_kind, date_affinity, key_term_set, key_terms, named_periods, offers, source_named
from .tuning import Tuning

# Sentences that lean on the one before ("However, they ...") are shown with it.
_LEANS_BACK = re.compile(
    r"^(however|but|still|yet|they|it|he|she|this|that|these|those|their|its|his|her|meanwhile|also|"
    r"instead|still|there)\b",
    re.IGNORECASE,
)


# Chat-role and control markup: text written to steer a model, not to report news. Such a sentence
# is never the answer, quoted or as support for a model's sentence; it stays indexed and the rest
# of its article is cited as usual. Turns and control tokens hold a whole line, injected orders
# ("Ignore all previous instructions") one sentence.
ROLES = r"system|assistant|user|human|ai|bot|developer"  # the chat roles a faked turn names
_TURN = re.compile(
    r"<\|[^|>]{0,40}\|>|<｜[^｜>]{0,40}｜>|\[/?INST\]|<</?SYS>>|</?(?:start_of_turn|end_of_turn)>"
    r"|^[\s#>*-]*(?:" + ROLES + r")\s*:"
    # A passage head in the prompt's own format ("[3] Wire report (Reuters, 2017-09-22)"): a fake passage.
    r"|^\s*\[\d{1,3}\]\s[^\n]{0,200}\([^()\n]{1,80},\s*(?:\d{4}-\d{2}-\d{2}|date unknown)\)",
    re.IGNORECASE | re.MULTILINE,
)
_ORDER = re.compile(
    r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+)?"
    r"(?:previous|prior|above|earlier|preceding|former|other)\s+(?:instructions?|prompts?|passages|messages|rules|context|directions)"
    r"|\bnote to (?:the |any )?(?:ai|model|assistant|llm|language model|chatbot|bot)s?\b"
    r"|\b(?:answer|reply|respond)\s+(?:to\s+)?(?:every|all|each|any)\s+(?:question|query|prompt|user)s?\s+(?:only\s+)?with\b"
    r"|\byou are (?:now )?in \w+ mode\b|\byou are (?:now )?(?:an? )?(?:ai|assistant|language model|chatbot)\b",
    re.IGNORECASE,
)
# A line that only opens a turn ("<|im_start|>system", "### Assistant:") makes the next line part of it.
_OPENS_TURN = re.compile(r"(?:<\|im_start\|>\s*\w*|^[\s#>*-]*(?:" + ROLES + r")\s*:?)\s*$", re.I)


def turn_lines(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the lines of `text` that fake a chat turn or hold control tokens
    (a line that only opens a turn takes the next line with it)."""
    out: list[tuple[int, int]] = []
    at, carry = 0, False
    for line in text.split("\n"):
        a, b = at, at + len(line)
        at = b + 1
        if not line.strip():
            continue
        if carry or _TURN.search(line):
            out.append((a, b))
            carry = bool(_OPENS_TURN.search(line))
        else:
            carry = False
    return out


def is_control(sentence: str) -> bool:
    """Whether a sentence itself fakes a turn, holds a control token or gives a model orders."""
    return bool(_TURN.search(sentence) or _ORDER.search(sentence))


def carries_control_text(text: str) -> bool:
    """Whether a text holds chat-role or control markup anywhere (its source card says so)."""
    return bool(turn_lines(text)) or bool(_ORDER.search(text))


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
    control: bool = False  # chat-role or control text ("Assistant:", <|im_start|>, "ignore all previous instructions")


def same_claim(a: str, b: str) -> bool:
    """Whether two sentences say the same thing in nearly the same words (content-word overlap)."""
    ta, tb = set(terms(a)), set(terms(b))
    return bool(ta) and len(ta & tb) / len(ta | tb) > 0.6


class EvidenceScorer:
    """Scores the sentences of retrieved passages against a question."""

    def __init__(
        self,
        embedder,
        keyword: KeywordIndex | None = None,
        tuning: Tuning | None = None,
        cache_size: int = 50_000,
        variants: VariantSource | None = None,
    ) -> None:
        self.embedder = embedder
        self.keyword = keyword
        self.tuning = tuning or Tuning()
        # Other spellings of names: the keyword index's when none is given, so both agree.
        self.variants = variants if variants is not None else getattr(keyword, "variants", None)
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

    def embed(self, texts: list[str]) -> np.ndarray:
        """The embedder's interface over the cache: the citation check embeds the sentences scoring just embedded."""
        return self.embed_sentences(texts)

    def _idf(self, term: str) -> float:
        if self.keyword is None or len(self.keyword) == 0:
            return 1.0
        # Squash index IDF so a tiny index (one article) doesn't make every unseen word decisive.
        return 1.0 + min(self.keyword.idf(term), 8.0) / 4.0

    def sentences(self, passages: list[Passage]) -> list[Evidence]:
        out = []
        for rank, p in enumerate(passages):
            turns = turn_lines(p.text)
            for order, (a, b) in enumerate(split_sentences(p.text)):
                e = Evidence(p, rank, p.text[a:b], p.start + a, p.start + b, order)
                e.control = is_control(e.text) or any(x < b and a < y for x, y in turns)
                out.append(e)
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
            context = context | covered_terms(q_terms, context, self.variants)
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
        return 1.0 - len(self.missing_keys(question, passages, keys)) / len(keys)

    def missing_keys(self, question: str, passages: list[Passage], keys: list[str] | None = None) -> list[str]:
        """The question's names and numbers that none of the passages holds (in the question's order)."""
        keys = key_terms(question) if keys is None else keys
        found: set[str] = set()
        for p in passages:
            text = " ".join(x for x in (p.title, p.source, p.published_at, p.text) if x)
            found |= set(terms(text)) | numbers(text) | set(words(text)) | acronyms(text)
        found |= covered_terms(terms(question), found, self.variants)  # "Dayr az-Zawr" is in a text saying "Deir Ezzor"
        return [k for k in keys if not (k in found or self._common(k))]

    def _common(self, key: str) -> bool:
        """A name most of the index mentions ("US" in American news) says nothing about a topic
        when the passages lack it: at least `common_share` of a large enough index holds it."""
        t = self.tuning
        return (
            self.keyword is not None
            and len(self.keyword) >= t.common_min_chunks
            and any(self.keyword.share(x) >= t.common_share for x in terms(key) or [key])
        )


"""Verifying model-written sentences against the retrieved evidence.

A model sentence is shown only when a retrieved sentence backs it; `SentenceVerifier` adds the
rules about a sentence's place in the answer (repeats, sentences leaning on a refused one,
sentences true of their source but beside the question).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ingest.chunking import split_sentences
from ingest.terms import fold, numbers, terms

from ..models import AnswerSentence, Citation
from .citing import citation_for
from .evidence import Evidence, leans_back, same_claim
from .question import asked_sentence, key_term_set
from .tuning import Tuning

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



class SentenceVerifier:
    """Checks a model's answer sentence by sentence, as it streams, and keeps what passes.

    Beyond `check_sentence`, a sentence is refused when it repeats one already shown, when it
    leans on a sentence that was refused ("They are 37-45-2 in those games."), and when what
    backs it is beside the question. `sentences` and `citations` hold what was kept, `dropped`
    each refused sentence with its reason.
    """

    def __init__(self, evidence: list[Evidence], embedder, tuning: Tuning, question: str) -> None:
        self.evidence = evidence
        self.embedder = embedder
        self.tuning = tuning
        self.question = question
        self.sentences: list[AnswerSentence] = []
        self.dropped: list[str] = []
        self._citations: dict[tuple[str, int, int], Citation] = {}
        self._kept: list[tuple[str, Evidence]] = []
        self._after_kept = False  # whether the model's previous sentence was shown

    @property
    def citations(self) -> list[Citation]:
        return list(self._citations.values())

    def feed(self, raw: str) -> Iterator[AnswerSentence]:
        """Check the finished sentences in `raw`; yield each one that is kept."""
        for text, cited in split_model_text(raw):
            shown, self._after_kept = self._after_kept, False
            if "NOT IN SOURCES" in text.upper():
                continue
            if any(same_claim(text, k) for k, _ in self._kept):
                # Small models loop ("Gobble and Waddle. Gobble and Waddle."): say it once.
                self.dropped.append(f"{text} (repeats an earlier sentence)")
                self._after_kept = True  # what it repeats is shown, so a sentence leaning on it reads
                continue
            if not shown and leans_back(text):
                # "They are 37-45-2 in those games." after its subject was refused says nothing.
                self.dropped.append(f"{text} (leans on a sentence that is not shown)")
                continue
            verdict = check_sentence(text, cited, self.evidence, self.embedder, self.tuning, self.question)
            if not verdict.supported or verdict.source is None:
                self.dropped.append(f"{text} ({verdict.reason})")
                continue
            src = verdict.source
            if src.score < self.tuning.second_ratio * self.evidence[0].score:
                # True of its source but beside the question: the extractive answer would not use it either.
                self.dropped.append(f"{text} (does not answer the question)")
                continue
            key = (src.passage.article_id, src.start, src.end)
            if key not in self._citations:
                self._citations[key] = citation_for(len(self._citations) + 1, [src])
            n = self._citations[key].n
            s = AnswerSentence(text=text, citations=[n], support="supported", score=round(verdict.precision, 3))
            self.sentences.append(s)
            self._kept.append((text, src))
            self._after_kept = True
            yield s

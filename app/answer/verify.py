"""Verifying model-written sentences against the retrieved evidence.

A model sentence is shown only when the sentences of the passages it cites state it
(`check_sentence`); `SentenceVerifier` adds the rules about a sentence's place in the answer
(repeats, sentences leaning on a refused one, the model's refusal).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from ingest.chunking import split_sentences
from ingest.terms import MONTHS, STOPWORDS, fold, numbers, terms, words
from ingest.variants import covered_terms

from ..models import AnswerSentence, Citation
from .citing import citation_for
from .evidence import ROLES, Evidence, is_control, leans_back, same_claim
from .prompt import passage_head
from .question import acronyms, answer_kind, asked_sentence, asks_yes_no, key_term_set, offers, outlet_words
from .tuning import Tuning

if TYPE_CHECKING:
    from .judge import Judge

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


# Negation and modality: stopword lists drop these words, so they are read apart. A claim may not
# add one its sources lack ("the bakery will win" is not "the bakery won"), and a source's "not"
# may not vanish from the claim that rests on it ("did not agree" is not "agreed").
_NEGATIONS = frozenset("not no never nor neither cannot none nobody nothing".split())
_MODALS = {"will": "will", "would": "will", "may": "may", "might": "may", "could": "may", "should": "should", "shall": "should"}
# Words that say "no" without a "not": a source's "refused to sign" backs a claim's "did not sign".
_NEGATIVE_WORDS = frozenset("without fail failed fails refused refuse refuses denied deny denies declined rejected "
                            "lack lacked unable absent".split())
_YES_NO = re.compile(r"^(?:(?:largely|mostly|partly|partially|broadly)\s+)?(yes|no)\b[,;:.]?\s*", re.I)
_SHORT_FORMS = {"won't": "will", "won’t": "will", "can't": "cannot", "can’t": "cannot"}


def hedges(text: str) -> set[str]:
    """The negation ("not") and modality ("will", "may", "should") a text states."""
    found = set()
    # "not unlike", "not uncommon": two negatives that make a likeness, not a denial.
    text = re.sub(r"\bnot\s+(?=un[a-z]{3,})", "", text, flags=re.I)
    for raw in re.findall(r"[A-Za-z’']+", text):
        if raw == "May":
            continue  # the month ("on May 16"); the modal rarely opens a news claim
        w = fold(raw)
        if w.endswith(("n't", "n’t")):
            found.add("not")
            w = _SHORT_FORMS.get(w, w[:-3])
        if w in _NEGATIONS:
            found.add("not")
        elif w in _MODALS:
            found.add(_MODALS[w])
    return found


def _says_no(text: str) -> bool:
    return "not" in hedges(text) or any(w in _NEGATIVE_WORDS for w in words(text))


@dataclass
class Check:
    """The verdict on one model sentence.

    `support` holds the source sentences that together state it (one or several, of one or
    several cited passages), `source` the one that backs it most. `settled` is False when the
    names, numbers and negation agree but the wording is too far from the sources to call: a
    judge, when one is configured, decides those; then `support` is what the judge read (it
    with a sentence of every cited passage it lacks).
    """

    text: str
    supported: bool
    source: Evidence | None
    precision: float
    dense: float
    reason: str = ""
    support: list[Evidence] = field(default_factory=list)
    settled: bool = True
    judged: bool = False  # the judge decided it (the cheap check could not)
    doubt: str = ""  # supported, but a judge, when one is configured, should confirm it (why)


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


_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80",
                      "ninety": "90", "hundred": "100", "dozen": "12"})
# "Nov. 1" and "November 1" are one date.
_MONTH_ABBR = {"jan": "january", "feb": "february", "mar": "march", "apr": "april", "jun": "june", "jul": "july",
               "aug": "august", "sep": "september", "sept": "september", "oct": "october", "nov": "november", "dec": "december"}


_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_COMPOUND = re.compile(r"\b(" + "|".join(_TENS) + r")[-\s](one|two|three|four|five|six|seven|eight|nine)\b")


def _numbers_of(text: str) -> set[str]:
    """Digits as written, and numbers written as words ("seven" is "7", "Sixty-seven" is "67")."""
    folded = fold(text)
    found = {str(_TENS[m.group(1)] + int(_NUMBER_WORDS[m.group(2)])) for m in _COMPOUND.finditer(folded)}
    rest = _COMPOUND.sub(" ", folded)  # "sixty-seven" is 67, not also 60 and 7
    return found | numbers(text) | {_NUMBER_WORDS[w] for w in words(rest) if w in _NUMBER_WORDS}


_MONTH = (r"(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
          r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTH_DAY = re.compile(_MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?\b")
_DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"(?![a-z])")


def day_months(text: str, day: str | None = None) -> set[tuple[int, int]]:
    """(month, day) of each date a text writes ("March 20", "3 March", "Nov. 4"); with `day`
    ("2024-03-01", the article's date), that day and the days the text names relative to it."""
    def month(name: str) -> int:
        return MONTHS[_MONTH_ABBR.get(fold(name)[:4].rstrip("."), fold(name)) if fold(name) not in MONTHS else fold(name)]

    found = {(month(m.group(1)), int(m.group(2))) for m in _MONTH_DAY.finditer(text)}
    found |= {(month(m.group(2)), int(m.group(1))) for m in _DAY_MONTH.finditer(text)}
    if day and re.match(r"\d{4}-\d{2}-\d{2}$", day[:10]):
        try:
            today = date.fromisoformat(day[:10])
        except ValueError:
            return found
        found.add((today.month, today.day))
        # News dates days by words: "yesterday", "the night before", "on Tuesday" (the last one
        # on or before the article's date).
        folded = fold(text)
        if re.search(r"\b(?:yesterday|last night|the (?:night|day|evening) before)\b", folded):
            d = today - timedelta(days=1)
            found.add((d.month, d.day))
        for name in set(re.findall(r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", folded)):
            d = today - timedelta(days=(today.weekday() - _WEEKDAYS.index(name)) % 7)
            found.add((d.month, d.day))
    return found


def _canon(term_set: set[str]) -> set[str]:
    return {_MONTH_ABBR.get(t, t) for t in term_set}


class _Known:
    """Index terms a source holds, matched leniently: "defence"/"defences" and "Viking"/"Vikings"
    stem apart, so a term of five letters or more also matches a term sharing its first five."""

    def __init__(self, found: set[str]) -> None:
        self.terms = found
        self._prefixes = {t[:5] for t in found if len(t) >= 5}

    def __contains__(self, term: str) -> bool:
        return term in self.terms or (len(term) >= 5 and term[:5] in self._prefixes)

    def __or__(self, other: set[str]) -> _Known:
        return _Known(self.terms | other)

    def missing(self, wanted: set[str]) -> set[str]:
        return {t for t in wanted if t not in self}


@dataclass
class _Source:
    """What a set of source sentences states, for comparing a claim with."""

    own: _Known  # the sentences' terms
    context: _Known  # ... with their passages' titles, outlets and dates
    numbers: set[str]
    quantities: set[tuple[str, str]]
    hedges: set[str]
    says_no: bool
    outlets: set[str] = field(default_factory=set)  # terms of the passages' outlets and dates


def _date_words(day: str | None) -> str:
    """"2023-11-09" as a claim may write it: "November 9 2023 Nov"."""
    if not day or not re.match(r"\d{4}-\d{2}-\d{2}", day):
        return day or ""
    year, month, d = int(day[:4]), int(day[5:7]), int(day[8:10])
    if not 1 <= month <= 12:
        return day
    name = next(m for m, i in MONTHS.items() if i == month)
    return f"{name} {d} {year}"


def _initials(text: str) -> set[str]:
    """Acronyms of capitalised runs: "United States" -> "us", "Department of Government Efficiency" -> "dge"."""
    out = set()
    for run in re.findall(r"[A-Z][\w’'-]*(?:\s+(?:of\s+|and\s+)?[A-Z][\w’'-]*)+", text):
        out.add("".join(w[0] for w in run.split() if w[0].isupper()).lower())
    return out


def _read(sentences: list[Evidence]) -> _Source:
    text = " ".join(e.text for e in sentences)
    heads = " ".join(dict.fromkeys(
        f"{e.passage.source or ''} {_date_words(e.passage.date)} {e.passage.date or ''}" for e in sentences))
    meta = " ".join(dict.fromkeys(e.passage.title or "" for e in sentences)) + " " + heads
    own = _canon(set(terms(text))) | _initials(text) | acronyms(text)
    context = own | _canon(set(terms(meta))) | _initials(meta)
    context |= covered_terms(list(context), context)
    outlets = _canon(set(terms(heads))) | _initials(heads)
    return _Source(_Known(own), _Known(context), _numbers_of(f"{text} {meta}"), quantities(text), hedges(text) | _licensed(text),
                   _says_no(text), outlets)


# What a source says without a modal verb that a claim may say with one. Reported speech shifts
# "can" to "could", and permission ("it was okay to continue") or possibility ("possibly") is
# "could continue"; a stated readiness or plan ("they're willing to make", "plans to open") is
# "will make".
_LICENSES = {
    "may": re.compile(r"\b(?:can|(?:okay|ok|allowed|permitted|able|free)\s+to|possibl[ey]|perhaps|potentially|likely)\b", re.I),
    "will": re.compile(r"\b(?:willing|going|plans?|planned|planning|set|expected|scheduled|intends?|intended|vows?|vowed|"
                       r"promises?|promised)\s+to\b", re.I),
}


def _licensed(text: str) -> set[str]:
    return {modal for modal, pattern in _LICENSES.items() if pattern.search(text)}


def _names(text: str, quoted: bool = True) -> set[str]:
    """The names a sentence states, as index terms: capitalised words past a sentence's start,
    acronyms ("U.S." -> "us") and the words of double-quoted phrases (quoted words are verbatim).
    Numbers are read apart."""
    found: set[str] = set()
    for m in re.finditer(r"[\w’'-]+", text):
        tok = re.split(r"['’]", m.group())[0]
        if not tok or any(ch.isdigit() for ch in tok) or not tok[:1].isupper():
            continue
        before = text[: m.start()].rstrip(" \"“(")
        if not before or before.endswith((".", "!", "?")):
            continue  # a sentence's first word is capitalised anyway
        found.update(t for t in terms(tok) if len(t) > 1)
    for phrase in re.findall(r"[\"“]([^\"“”]{3,}?)[\"”]", text) if quoted else []:
        found.update(t for t in terms(phrase) if not t.isdigit())
    return _canon(found) | acronyms(text)


# Words about the reporting, not about the news ("The Verge article notes that ..." states what
# the article says; the claim is the rest), and the connectives of a comparison.
_REPORTING = frozenset(terms(
    "article articles report reports reported passage passages source sources say says said note notes noted "
    "mention mentions mentioned describe describes described state states stated write writes wrote cover covers "
    "covered quote quotes quoted add adds added explain explains explained claim claims claimed piece story "
    "stories coverage published publish dated date also likewise both same another second though although however "
    "whereas instead contrast meanwhile "
    "largely mostly partly partially broadly"))
# Light verbs carry the relation in the words around them ("holds dual nationality" for "has dual
# nationality", "making levels collapse"), and naming verbs say what a thing is called in many
# ways ("known as" for "referred to as"): neither needs a source word of its own.
_LIGHT = frozenset(terms(
    "make makes made making hold holds held holding come came get gets got getting take takes "
    "took taking give gives gave giving keep keeps kept keeping"))
_NAMING = frozenset(terms("known called call calls calling named dubbed referred refer refers"))


def _negation_turned(claim_terms: set[str], sentences: list[Evidence]) -> bool:
    """Whether a source sentence negates what the claim, which negates nothing, states: a "not"
    whose next content word the claim has ("pleaded not guilty" against "pleaded guilty")."""
    for e in sentences:
        tokens = re.findall(r"[a-z’']+", fold(e.text))
        for i, w in enumerate(tokens):
            if w in _NEGATIONS or w.endswith(("n't", "n’t")):
                after = terms(" ".join(tokens[i + 1 : i + 4]))
                if after and after[0] in claim_terms:
                    return True
    return False


# A sentence about what an article leaves out ("The Sporting News passage does not name the
# Ravens", "but it does not say that Michael Cheika said it") claims an absence. Its "not" is
# about the article, not the news, so it is checked as what it is: the cited passages must not
# state what it names. The rest of the sentence is checked as any claim.
_ABSENCE = re.compile(
    r"(?P<subject>[^,;:]*?)\s*\b(?:does|do|did)(?:\s+not|n[’']t)\s+"
    r"(?P<verb>say|state|name|mention|suggest|blame|attribute|identify|specify|give|report|claim|indicate|describe|"
    r"discuss|include|contain|list|note|spell\s+out|explain|link|tie|address|cover|provide|show|reference|cite|"
    r"confirm|quote|call|connect|detail|offer|make)\b(?P<object>[^;,]*?)"
    r"(?=\s*(?:;|,?\s+\b(?:but|though|although|while|whereas|and\s+(?:it|they|instead))\b|,\s+and\b|[.!?]*$))",
    re.I,
)
# The same absence said with "no": "the passages show no inconsistency", "it gives no date".
_ABSENCE_NO = re.compile(
    r"(?P<subject>[^,;:]*?)\s*\b(?:show|shows|showed|give|gives|gave|name|names|named|mention|mentions|mentioned|"
    r"offer|offers|offered|provide|provides|provided|include|includes|included|cite|cites|cited|make|makes|made|"
    r"contain|contains|contained)\s+no\s+(?P<object>[^;,]*?)"
    r"(?=\s*(?:;|,?\s+\b(?:but|though|although|while|whereas|and\s+(?:it|they|instead))\b|,\s+and\b|[.!?]*$))",
    re.I,
)
_CLAUSE_OPENERS = re.compile(r"^(?:(?:but|though|although|while|whereas|and|so|instead)\s+)+", re.I)
_PRONOUNS = frozenset({"it", "they", "neither", "none"})
_ARTICLE_WORDS = _REPORTING | frozenset(terms("review reviews outlet"))
_ARTICLE_NOUNS = frozenset(terms("article articles report reports passage passages source sources piece story stories "
                                 "coverage review reviews"))


def _about_articles(subject: str, before: str, pool: list[Evidence]) -> bool:
    """Whether `subject` ("the New York Times passage", "Engadget") names an article, not the news;
    "it" does when the sentence has named one `before` ("The passage says ..., but it does not")."""
    outlets = _canon(set(terms(" ".join({e.passage.source or "" for e in pool}))))
    subject = _CLAUSE_OPENERS.sub("", subject.strip(" ,"))
    if fold(subject) in _PRONOUNS:
        return bool(set(terms(before)) & (_ARTICLE_NOUNS | outlets))
    found = set(terms(subject))
    # "the New York Times passage": an article named by its outlet, cited or not.
    named = set(terms(" ".join(re.findall(r"\b[A-Z][\w.&’'-]*", subject)))) if found & _ARTICLE_NOUNS else set()
    return bool(found) and found <= (_ARTICLE_WORDS | outlets | named) and bool(found & (_ARTICLE_WORDS | outlets))


def absence_claims(claim: str, pool: list[Evidence]) -> tuple[list[str], str]:
    """The absences a sentence claims of its cited articles (what each says is not there), and the
    rest of the sentence, which claims something of the news."""
    absent, rest, last = [], [], 0
    for m in sorted([*_ABSENCE.finditer(claim), *_ABSENCE_NO.finditer(claim)], key=lambda m: m.start()):
        if m.start() < last or not _about_articles(m.group("subject"), claim[: m.start()], pool):
            continue
        absent.append(m.group("object"))
        rest.append(claim[last : m.start()])
        last = m.end()
    if not absent:
        return [], claim
    rest.append(claim[last:])
    text = " ".join(r.strip(" ,;") for r in rest if r.strip(" ,;."))
    return absent, _CLAUSE_OPENERS.sub("", text.strip())


def _absent_from(thing: str, pool: list[Evidence]) -> bool:
    """Whether the passages of `pool` leave out `thing`: most of the names it gives are missing
    from them (in any form: "the Fed" is there when "the Federal Reserve" is), or, when it gives
    no name, most of its words are."""
    passages = {e.passage.chunk_id: e.passage for e in pool}.values()
    text = " ".join(f"{p.title or ''} {p.text}" for p in passages)
    found = _canon(set(terms(text))) | _initials(text) | acronyms(text)
    known = _Known(found)
    names = _names(thing) - _numbers_of(thing)
    missing = {t for t in known.missing(names) if not (len(t) >= 3 and any(f.startswith(t) for f in found))}
    if names:
        return len(missing) > len(names) / 2
    wanted = set(terms(thing)) - _REPORTING
    return bool(wanted) and len(known.missing(wanted)) > len(wanted) / 2


_NAME_RUN = re.compile(r"[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*)*")


def _same_entity(claim: str, pool: list[Evidence], evidence: list[Evidence]) -> set[str]:
    """Name terms of the claim that name what the cited sentences name in another form.

    Sources shorten names and the model writes them out: when a retrieved sentence writes the full
    name ("Sam Bankman-Fried"), the cited sentences may give its initials ("SBF") or a part of it
    ("Bankman-Fried"). And "the Fed" is "the Federal Reserve", "Peru" is in "Peruvian": a short
    form opening a name the cited sentences give. A name no retrieved sentence writes out is not
    vouched for ("Sam Bankman-Frank" is not "SBF").
    """
    text = " ".join(e.text for e in pool)
    pool_terms = set(terms(text)) | {fold(w) for w in re.findall(r"\b[A-Z]{2,}\b", text)}
    text_names = _names(text)
    pool_names = text_names | set(terms(" ".join({e.passage.title or "" for e in pool})))
    elsewhere = " ".join(e.text for e in evidence)
    found: set[str] = set()
    for m in _NAME_RUN.finditer(claim):
        run = m.group()
        parts = [w for w in re.split(r"[\s-]+", run) if w[:1].isupper()]
        # Only the parts the cited sentences lack are vouched for: the rest they state themselves,
        # and the checks of names in place of others still see them.
        if len(parts) < 2 or run not in elsewhere:
            continue
        initials = "".join(w[0] for w in parts).lower()
        # A part must be a name there too: "moon" in "the moon's orbit" does not vouch for "Beaver Moon";
        # and its last part, the one a short form keeps ("Bankman-Fried" of "Sam Bankman-Fried"):
        # "Americans" does not vouch for "American Comeback Tour".
        last = terms(parts[-1])
        if initials in pool_terms or (last and len(last[-1]) >= 3 and last[-1] in text_names):
            found |= set(terms(run)) - pool_terms
    for t in _names(claim):
        if 3 <= len(t) <= 4 and any(n.startswith(t) and n != t for n in pool_names):
            found.add(t)
    return found


_NAME_PAIR = re.compile(r"([A-Z][\w’']*)(?=(-|\s+)([A-Z][\w’']*))")


def _name_pairs(text: str) -> list[tuple[str, str]]:
    """Adjacent words of the names a text writes: "Caroline Ellison" -> (caroline, ellison),
    "Bankman-Fried's" -> (bankman, fried)."""
    pairs = []
    for m in _NAME_PAIR.finditer(text):
        a, b = (fold(re.split(r"['’]", m.group(i))[0]) for i in (1, 3))
        if a not in STOPWORDS and b not in STOPWORDS:
            pairs.append((a, b))
    return pairs


def _names_rejoined(claim: str, pool: list[Evidence], evidence: list[Evidence]) -> list[str]:
    """Names of the claim made of two names the cited text writes with other partners: "Caroline
    Alameda" where it writes "Caroline Ellison" and "Alameda Research", "Sam Bankman-Binance"
    where it writes "Bankman-Fried". A name the sources write as the claim does, anywhere
    retrieved, is theirs; a word the sources write alone ("President Donald Trump" for "President
    Trump") is a fuller form, not a swap."""
    source = " ".join([e.text for e in pool] + list({e.passage.title or "" for e in pool}))
    retrieved = " ".join(e.text for e in evidence)
    anywhere = set(_name_pairs(retrieved)) | set(_name_pairs(source))
    follows: dict[str, set[str]] = {}
    precedes: dict[str, set[str]] = {}
    for a, b in _name_pairs(source):
        follows.setdefault(a, set()).add(b)
        precedes.setdefault(b, set()).add(a)
    # A name from another retrieved passage ("Alameda") rejoined to the cited one's ("Bankman-")
    # is as much a swap as one from the cited passage.
    known = {fold(w) for w in re.findall(r"[\w’']+", f"{source} {retrieved}")}
    # The fuller form of the docstring: a pair the sources write with words between.
    for run in _NAME_RUN.findall(f"{source} {retrieved}"):
        words = [fold(re.split(r"['’]", w)[0]) for w in re.split(r"[\s-]+", run)]
        anywhere |= {(a, b) for i, a in enumerate(words) for b in words[i + 2:]}
    claim_pairs = _name_pairs(claim)
    in_runs = {w for pair in claim_pairs for w in pair}
    return [f"{a} {b}" for a, b in claim_pairs
            if (a, b) not in anywhere and a in known and b in known
            and (follows.get(a, set()) - in_runs or precedes.get(b, set()) - in_runs)]


_HYPHENED_NAME = re.compile(r"(?<![\w’'-])[A-Z][\w’'.]*(?:-[A-Z][\w’'.]*)+")


def _name_fragments(claim: str, pool: list[Evidence], evidence: list[Evidence]) -> list[str]:
    """Names of the claim that are half of a name the sources only write whole: "Bankman" where
    every retrieved sentence writes "Bankman-Fried". A compound whose parts also stand alone
    somewhere is two names joined ("Israel-Hamas war"), and either part names its own thing."""
    # The pool is drawn from the evidence: its titles are what the evidence's text lacks.
    retrieved = " ".join([e.text for e in evidence] + list({e.passage.title or "" for e in pool}))
    whole: dict[str, str] = {}
    for m in _HYPHENED_NAME.finditer(retrieved):
        parts = [re.split(r"['’]", p)[0].rstrip(".") for p in m.group().split("-")]
        alone = [p for p in parts if re.search(rf"(?<![\w’'-]){re.escape(p)}(?![\w-])", retrieved)]
        if not alone:
            whole.update((p, m.group()) for p in parts)
    found = []
    for m in re.finditer(r"(?<![\w’'-])[A-Z][\w’']*(?![\w’'-])", claim):
        word = re.split(r"['’]", m.group())[0]
        if word in whole:
            found.append(f"{word} ({whole[word]})")
    return found


def check_sentence(
    sentence: str,
    cited: list[int],
    evidence: list[Evidence],
    embedder,
    tuning: Tuning,
    question: str = "",
    judge: Judge | None = None,
    before: str = "",
) -> Check:
    """Do the cited passages state the sentence? Claims are checked, not wording.

    The sentence may rest on several sentences of a cited passage, or of several cited passages
    (its venue in the next sentence, its date in another report). Against those together, its
    names, numbers (with currency and scale), negation and modality must agree, and most of its
    words must be theirs or the question's; a paraphrase is fine. A name from an article's title
    may supply one the sentences leave implicit, never replace one they state. A bare answer
    ("Zohran Mamdani.") needs every word in one source sentence that names most of what the
    question asks about. What agrees on every fact but is worded too far from its sources to
    call is unsettled: `judge` decides it when given (failing closed), else it is refused.
    `before` is the answer's sentence shown just before this one: what a short sentence after it
    ("Its active ingredient is acetaminophen.") is about.
    """
    check = _cheap_check(sentence, cited, evidence, embedder, tuning, question, before)
    # The judge settles what the cheap check could not, and confirms what it kept with a doubt (a
    # name that may stand in another's place).
    doubted = check.supported and bool(check.doubt)
    if judge is None or (check.settled and not doubted):
        return check
    shown = with_cited(check.support, cited, evidence)
    if judge.supports(sentence, shown):
        # Cited to every passage the judge read: "both reports ..." rests on both. A doubted
        # sentence keeps the sentences the check found for it.
        return Check(sentence, True, check.source, check.precision, check.dense, "", check.support if doubted else shown,
                     settled=True, judged=True, doubt=check.doubt)
    # What the judge read stays with the refusal: a yes/no sentence's bare answer is asked against it.
    reason = check.doubt if doubted else check.reason
    return Check(sentence, False, check.source, check.precision, check.dense, f"{reason}; the judge did not find it in the source",
                 shown, settled=True, judged=True)


def with_cited(support: list[Evidence], cited: list[int], evidence: list[Evidence]) -> list[Evidence]:
    """`support` and one sentence of each cited passage it lacks: what a judge is shown (each
    passage whole), so that it reads every passage the claim cites, not only those the check chose."""
    shown = {e.passage.chunk_id for e in support}
    out = list(support)
    for e in evidence:
        if e.rank + 1 in cited and e.passage.chunk_id not in shown:
            shown.add(e.passage.chunk_id)
            out.append(e)
    return out


def _cheap_check(
    sentence: str, cited: list[int], evidence: list[Evidence], embedder, tuning: Tuning, question: str, before: str
) -> Check:
    """`check_sentence` without the judge: what the names, numbers, dates, negation and wording say."""
    claim = _YES_NO.sub("", sentence) or sentence  # "Yes, ..." answers a yes/no question: the rest is the claim
    pool = [e for e in evidence if e.rank + 1 in cited] or evidence
    pool += _named_articles(claim, pool, evidence)
    if not pool:
        return Check(sentence, False, None, 0.0, 0.0, "nothing retrieved")
    absent, claim = absence_claims(claim, pool)
    present = [a for a in absent if not _absent_from(a, pool)]
    if present:
        # The names it says are missing are there, but what it says the article does not do with
        # them ("does not blame X on anyone") may still hold: a judge reads each cited passage,
        # shown by its sentence closest to the claim.
        vectors = embedder.embed([sentence] + [e.text for e in pool])
        closest: dict[str, tuple[float, Evidence]] = {}
        for e, sim in zip(pool, vectors[1:] @ vectors[0]):
            if e.passage.chunk_id not in closest or sim > closest[e.passage.chunk_id][0]:
                closest[e.passage.chunk_id] = (float(sim), e)
        shown = [e for _, e in closest.values()]
        return Check(sentence, False, shown[0], 0.0, 0.0, f"the source does state what it says is not there: {present[0].strip()}",
                     shown, settled=False)
    claim_terms = [_MONTH_ABBR.get(t, t) for t in terms(claim)]
    s_terms = set(claim_terms)
    if absent and not s_terms - _REPORTING:
        # Only an absence is claimed: it holds (above). The passage's closest sentence is cited,
        # so the reader sees what it does say.
        vectors = embedder.embed([sentence] + [e.text for e in pool])
        primary = pool[int((vectors[1:] @ vectors[0]).argmax())]
        return Check(sentence, True, primary, 1.0, 0.0, "", [primary])
    if not s_terms:
        return Check(sentence, False, None, 0.0, 0.0, "no content words")
    q_terms = _canon(set(terms(question)))
    if question and s_terms <= q_terms and not absent:  # beside an absence, the rest is checked as a claim
        return Check(sentence, False, None, 0.0, 0.0, "restates the question without answering it")
    # An article's title is part of what it states: "Another Sporting News article covers best bets
    # for Travis Kelce ..." is what the article's headline says, in no sentence of its text.
    titles = list(dict.fromkeys(e.passage.title for e in pool if e.passage.title))
    vectors = embedder.embed([claim] + [e.text for e in pool] + titles)
    sims = {id(e): float(s) for e, s in zip(pool, vectors[1 : len(pool) + 1] @ vectors[0])}
    title_sims = dict(zip(titles, (float(s) for s in vectors[len(pool) + 1 :] @ vectors[0])))
    # Each pool sentence's terms, read once: every candidate support set draws on them.
    raw_terms = {id(e): set(terms(e.text)) for e in pool}
    facts_of = {id(e): _canon(raw_terms[id(e)]) | _numbers_of(e.text) for e in pool}
    s_numbers, s_quantities = _numbers_of(claim), quantities(claim)
    s_dates = day_months(claim)
    # A date's day is checked with its month (below), not as a number of its own: "Feb. 9" may
    # stand for the source's "on Sunday".
    s_numbers -= {str(d) for _, d in s_dates}
    s_names = _names(claim) - s_numbers
    # For each number and what it counts ("2 years"), the passages with a sentence that counts it.
    counting: dict[tuple[str, str], set[str]] = {}
    for n, w in _counted(claim, s_numbers):
        counting[(n, w)] = {e.passage.chunk_id for e in pool if n in facts_of[id(e)] and w in _Known(facts_of[id(e)])}
    same_entity = _same_entity(claim, pool, evidence)
    s_names -= same_entity
    s_proper = _names(claim, quoted=False)
    s_hedges = hedges(claim)
    asked_names = key_term_set(asked_sentence(question)) if question else set()
    before_names = _names(before) - _numbers_of(before) if before else set()
    asked_kind = answer_kind(question) if question else None
    # Words of the claim that restate the question need no source ("The individual is ..."); its
    # names and numbers always do.
    free = (q_terms | _REPORTING | _LIGHT | _NAMING | same_entity) - s_names
    wanted = s_terms - free or s_terms

    rejoined = _names_rejoined(claim, pool, evidence)
    fragments = _name_fragments(claim, pool, evidence)

    claim_known = _Known(s_terms)

    def verdict(support: list[Evidence]) -> Check:
        primary = support[0]
        src = _read(support)
        prim = _read([primary])
        # Negation and modality belong to the sentences that carry the claim, not to one that only
        # lends it a name: "not" elsewhere in the passage does not make "X was not tapped" true.
        main = [e for e in support if len(s_terms & _canon(raw_terms[id(e)])) >= 0.4 * len(s_terms)] or [primary]
        core = _read(main)
        precision = sum(t in src.context for t in wanted) / len(wanted)
        sim = max(max(sims[id(e)] for e in support), title_sims.get(primary.passage.title, 0.0))
        numbers_ok = s_numbers <= src.numbers and s_quantities <= src.quantities
        unknown_names = src.context.missing(s_names)
        # A quoted phrase from the title ("calling it \"just better\"") quotes the article; it puts no
        # name in place of another.
        from_title = src.own.missing(s_names & s_proper) - unknown_names
        from_title -= src.outlets  # an outlet or a date from the passage's head is named, not put in place of anything
        left_out = {t for t in _names(primary.text) - prim.numbers if t not in claim_known}
        names_ok = not unknown_names and not (from_title and left_out)
        # Negation only from a sentence carrying the claim.
        # Modality may come from any supporting sentence of the passages carrying the claim, not from
        # another article: "will win" is not the source's "won" because another story says "will".
        kin = _read([e for e in support if e.passage.chunk_id in {m.passage.chunk_id for m in main}])
        added = (s_hedges - {"not"}) - kin.hedges
        if "not" in s_hedges and "not" not in core.hedges and not core.says_no:
            added.add("not")  # "refused to sign" backs "did not sign"
        turned = "not" not in s_hedges and not _says_no(claim) and _negation_turned(s_terms, main)
        extra = _unsupported_run(claim_terms, src.context | free, tuning.unsupported_run)
        about = len(asked_names & prim.own.terms) / len(asked_names) if asked_names else 1.0
        if before_names:
            # A short sentence continuing the answer is about what the sentence before it names, which
            # its own sentence or passage names ("The crash killed 67 people." in the passage that
            # names the airport).
            passage = _Known(_canon(set(terms(f"{primary.passage.title or ''} {primary.passage.text}"))))
            about = max(about, len(before_names - passage.missing(before_names)) / len(before_names))
        # A bare answer holds what was asked: "The Miller Street." answers no "until what time". A
        # short sentence going on from a kept one ("The crash killed 67 people." after the airport
        # is named) adds to the answer given, and need not be one.
        bare = (len(s_terms) <= tuning.bare_terms and not prim.context.missing(s_terms) - prim.numbers and about >= tuning.bare_names
                and (asked_kind is None or bool(before_names) or offers(asked_kind, claim, question)))
        if not numbers_ok:
            return Check(sentence, False, primary, precision, sim, "numbers differ", support)
        chunks = {e.passage.chunk_id for e in support}
        apart = [f"{n} {w}" for (n, w), where in counting.items() if not where & chunks]
        if apart:
            # "2 years" joined from "two submarines" and "forty years old": a number must count in
            # some sentence of the passages backing it what it counts in the claim.
            return Check(sentence, False, primary, precision, sim, f"no source counts {apart[0]}", support)
        # A date is its month and day together: "March 20" is not "March" from one sentence and
        # "20" from another.
        if s_dates and not s_dates <= set().union(*(day_months(e.text, e.passage.date) for e in support)):
            return Check(sentence, False, primary, precision, sim, "dates differ", support)
        if added:
            return Check(sentence, False, primary, precision, sim, f"the source does not say {', '.join(sorted(added))}", support)
        if unknown_names:
            return Check(sentence, False, primary, precision, sim, f"names not in the source: {', '.join(sorted(unknown_names))}", support)
        if not names_ok:
            reason = f"names in place of the source's: {', '.join(sorted(from_title))} for {', '.join(sorted(left_out))}"
            return Check(sentence, False, primary, precision, sim, reason, support)
        if fragments:
            # "Sam Bankman" or "Bankman" is no name the sources write: they write "Bankman-Fried".
            reason = f"a part of a name the sources write whole: {', '.join(fragments)}"
            return Check(sentence, False, primary, precision, sim, reason, support, settled=False)
        if rejoined:
            # Two names of the source made into one the source never writes: a swap, most often;
            # a judge can tell a fuller form of a name from one.
            reason = f"a name the source writes otherwise: {', '.join(rejoined)}"
            return Check(sentence, False, primary, precision, sim, reason, support, settled=False)
        # A name that only another sentence supplies, while the claim leaves out one the backing
        # sentence states, may be a swap ("Cuomo and New York City" for "Cuomo and Curtis Sliwa"):
        # a judge can tell.
        # An outlet is lent by its own article's head: it names the report ("the same date as
        # Engadget's review"), and puts no name in place of the sentence's.
        lent = prim.context.missing(s_names) - src.outlets if len(support) > 1 else set()
        # The question's own names need no lender: the claim restates what is asked about.
        lent -= asked_names
        if lent and left_out and not _lent_in_place(claim_terms, lent, s_names - src.outlets - asked_names,
                                                    s_names | s_numbers | free, primary, support, raw_terms):
            reason = f"names from another sentence in place of the source's: {', '.join(sorted(lent))} for {', '.join(sorted(left_out))}"
            return Check(sentence, False, primary, precision, sim, reason, support, settled=False)
        def doubt() -> str:
            """Why a judge should confirm the claim, if it should. A name no sentence carrying the
            claim states, while the claim leaves out one they do, may be a swap the rest of the
            wording hides ("along with Cuba and Education" for the source's "Jamaica, Cuba, and
            Haiti", "Education" from a minister's title in the next sentence). A venue from the
            next sentence reads the same way, so the cheap check keeps it (`check_sentence`)."""
            lent_in = core.context.missing(s_names) - src.outlets - asked_names
            dropped = {t for e in main for t in _names(e.text) - _numbers_of(e.text) if t not in claim_known}
            if not (lent_in and dropped):
                return ""
            return f"names from another sentence ({', '.join(sorted(lent_in))}) beside those it leaves out ({', '.join(sorted(dropped))})"

        if len(s_terms) <= tuning.bare_terms:
            # A bare answer is judged by the one sentence it comes from and the question alone.
            if bare:
                return Check(sentence, True, primary, precision, sim, "", support, doubt=doubt())
            return Check(sentence, False, primary, precision, sim, "a bare answer its source sentence does not give for the subject asked about", support)
        if turned:
            return Check(sentence, False, primary, precision, sim, "the source says not", support, settled=False)
        if extra:
            return Check(sentence, False, primary, precision, sim, f"adds what no source says: {' '.join(extra)}", support, settled=False)
        if wanted <= src.outlets:
            # What it states is only what the articles' heads say, their outlets and dates ("the
            # Polygon report was published on November 9, the same date as Engadget's review"), and
            # the facts agree; what it makes of them no sentence says. A judge can tell.
            return Check(sentence, False, primary, precision, sim, "only the articles' outlets and dates back it", support,
                         settled=False)
        # Facts joined from several passages are riskier than one passage's: a little more of the
        # wording must be theirs.
        needed = tuning.support_precision + (tuning.cross_passage_margin if len({e.passage.chunk_id for e in support}) > 1 else 0.0)
        if (precision >= needed and sim >= tuning.support_dense) or (
            precision >= tuning.support_precision_all and sim >= tuning.unsettled_dense
        ):
            return Check(sentence, True, primary, precision, sim, "", support, doubt=doubt())
        settled = precision < tuning.unsettled_precision or sim < tuning.unsettled_dense
        return Check(sentence, False, primary, precision, sim, "not in the cited passage", support, settled=settled)

    best: Check | None = None
    best_rank: tuple[float, ...] = ()
    by_closeness = sorted(pool, key=lambda e: -(sims[id(e)] + len(s_terms & raw_terms[id(e)]) / len(s_terms)))
    for primary in by_closeness[: tuning.support_candidates]:
        check = verdict(_support_for(primary, pool, facts_of, s_terms, s_names | s_numbers, tuning))
        # Of the sources that back it, the fewest sentences that do, then the one that best answers
        # the question, are cited; of those that don't, the closest explains the refusal.
        rank = (2.0, -len(check.support), primary.score, check.precision + check.dense) if check.supported else (
            (1.0 if not check.settled else 0.0), check.precision + check.dense)
        if best is None or rank > best_rank:
            best, best_rank = check, rank
    assert best is not None
    return best


def _named_articles(claim: str, pool: list[Evidence], evidence: list[Evidence]) -> list[Evidence]:
    """Sentences of the retrieved articles a comparison names by outlet beside one it cites.

    "The Polygon report was published on November 9, 2023, the same date as Engadget's review [1]"
    cites Polygon's article and names Engadget's too: Engadget's passage states its part, so it
    joins what the claim is checked against, and the citation shown points at it. Only beside an
    outlet the claim both names and cites: "Wired says ... [2]" citing another outlet's article
    is a wrong citation, not a short one, and is checked against what it cites.
    """
    named = {fold(re.split(r"['’]", w)[0]) for w in re.findall(r"\b[A-Z][\w.&’'-]*", claim)}

    def is_named(source: str | None) -> bool:
        outlet = outlet_words(source) - STOPWORDS  # "The Verge" is named by "Verge"
        return bool(outlet) and outlet <= named

    cited = {e.passage.source for e in pool}
    if not any(is_named(source) for source in cited):
        return []
    # The pool's sentences all come from cited outlets, so none of these is in it already.
    return [e for e in evidence if e.passage.source not in cited and is_named(e.passage.source)]


_COUNTED = re.compile(r"\b(\d[\d,]*(?:\.\d+)?|[A-Za-z]+(?:-[A-Za-z]+)?)\s+(?=([A-Za-z][\w’'-]*))")


def _counted(claim: str, claim_numbers: set[str]) -> list[tuple[str, str]]:
    """(number, the term it counts) of each number the claim writes before a content word:
    "lasted 2 years" -> ("2", "year"), "Sixty-seven people" -> ("67", "people")."""
    out = []
    for m in _COUNTED.finditer(claim):
        found = _numbers_of(m.group(1)) & claim_numbers
        after = terms(m.group(2))
        if len(found) != 1 or not after or after[0].isdigit() or fold(m.group(2)) in MONTHS:
            continue
        n = found.pop()
        before = claim[: m.start()].split()
        # Not a count: a year ("in 2009 came"), "one" as a pronoun, a number in a name ("Week 4 game").
        if re.fullmatch(r"1[89]\d\d|20\d\d", n) or fold(m.group(1)) == "one" or (before and before[-1][:1].isupper()):
            continue
        out.append((n, _MONTH_ABBR.get(after[0], after[0])))
    return out


def _unsupported_run(claim_terms: list[str], known: _Known, size: int) -> list[str]:
    """The first stretch of `size` claim terms in a row of which all but one are unknown to the sources.

    A paraphrase swaps a word here and there; a clause the sources never state ("..., which
    officials later disputed") is a run of new words.
    """
    if size <= 0 or len(claim_terms) < size:
        return []
    for i in range(len(claim_terms) - size + 1):
        window = claim_terms[i : i + size]
        if sum(t not in known and not t.isdigit() for t in window) >= size - 1:
            return [t for t in window if t not in known]
    return []


def _near(claim_terms: list[str], at: int, skip: set[str]) -> list[str]:
    """The claim's two nearest content words on each side of position `at`, past names and numbers."""
    left = [t for t in claim_terms[:at] if t not in skip][-2:]
    return left + [t for t in claim_terms[at + 1 :] if t not in skip][:2]


def _lent_in_place(claim_terms: list[str], lent: set[str], names: set[str], skip: set[str], primary: Evidence,
                   support: list[Evidence], raw_terms: dict[int, set[str]]) -> bool:
    """Whether names another sentence lends come with their own sentence's words, and every name
    stands beside a word of a sentence that holds it.

    "defeating Andrew Cuomo and Curtis Sliwa" joins "he again defeated Cuomo ... and Curtis Sliwa"
    to the sentence naming the mayor; "the first mayor of Curtis Sliwa" puts a name among words
    no sentence holding it has: a swap.
    """
    known = {id(e): _Known(_canon(raw_terms[id(e)])) for e in support}
    own = known[id(primary)]
    for name in names:
        homes = [known[id(e)] for e in support if name in known[id(e)]]
        lenders = [known[id(e)] for e in support if e is not primary and name in known[id(e)]]
        for at in (i for i, t in enumerate(claim_terms) if t == name):
            near = _near(claim_terms, at, skip)
            if near and homes and not any(t in home for t in near for home in homes):
                return False
            if name in lent and not any(t in lender and t not in own for t in near for lender in lenders):
                return False
    return True


def _support_for(
    primary: Evidence, pool: list[Evidence], facts_of: dict[int, set[str]], s_terms: set[str], facts: set[str], tuning: Tuning
) -> list[Evidence]:
    """`primary` and the fewest other pool sentences that supply the claim's missing facts and words.

    `facts_of` holds each pool sentence's terms and numbers, by `id`.
    """
    support: list[Evidence] = [primary]
    covered = set(facts_of[id(primary)])
    for _ in range(tuning.support_sentences - 1):
        missing_facts, missing_words = facts - covered, s_terms - covered - facts
        if not missing_facts and len(missing_words) < 2:
            break
        best, best_gain = None, 0.0
        for e in pool:
            if any(e is x for x in support):
                continue
            have = facts_of[id(e)]
            gain = 2.0 * len(missing_facts & have) + len(missing_words & have)
            if gain > best_gain:
                best, best_gain = e, gain
        if best is None or best_gain < 2.0:
            break
        support.append(best)
        covered |= facts_of[id(best)]
    return support


class SentenceVerifier:
    """Checks a model's answer sentence by sentence, as it streams, and keeps what passes.

    Beyond `check_sentence`, a sentence is refused when it repeats one already shown, and when it
    leans on a sentence that was refused ("They are 37-45-2 in those games."). The model's
    refusal ("NOT IN SOURCES") is recorded in `refused`, never shown. `sentences` and `citations`
    hold what was kept, each citation quoting the exact supporting sentences of one passage;
    `dropped` holds each refused sentence with its reason.
    """

    def __init__(self, evidence: list[Evidence], embedder, tuning: Tuning, question: str, judge: Judge | None = None,
                 verdicts: bool = False) -> None:
        self.evidence = evidence
        self.embedder = embedder
        self.tuning = tuning
        self.question = question
        self.judge = judge
        self.sentences: list[AnswerSentence] = []
        self.dropped: list[str] = []
        self.refused = False  # the model said the passages do not answer
        self._citations: dict[tuple[str, tuple[tuple[int, int], ...]], Citation] = {}
        self._kept: list[str] = []
        self._after_kept = True  # whether the model's previous sentence was shown (the first leans on nothing)
        # A yes/no question's "Yes"/"No", when the sentence giving it is a judgment the check can't
        # settle, is shown marked as the model's own conclusion: only once a checked sentence follows.
        # With a judge, the judge is asked about the bare answer instead (`_judged_verdict`).
        self._yes_no = asks_yes_no(question)
        self._verdicts = verdicts and self._yes_no
        self._verdict: AnswerSentence | None = None
        # What the prompt showed as each passage's heading: a small model echoes them as if they were claims.
        heads = {e.passage.chunk_id: e.passage for e in evidence}.values()
        self._headings = {tuple(words(x)) for p in heads for x in (p.title or "", passage_head(p)) if words(x)}

    @property
    def citations(self) -> list[Citation]:
        return list(self._citations.values())

    def feed(self, raw: str) -> Iterator[AnswerSentence]:
        """Check the finished sentences in `raw`; yield each one that is kept."""
        for text, cited in split_model_text(raw):
            shown, self._after_kept = self._after_kept, False
            if REFUSAL in text.upper():
                self.refused = True
                continue
            if any(same_claim(text, k) for k in self._kept):
                # Small models loop ("Gobble and Waddle. Gobble and Waddle."): say it once.
                self.dropped.append(f"{text} (repeats an earlier sentence)")
                self._after_kept = True  # what it repeats is shown, so a sentence leaning on it reads
                continue
            if loops(text):
                # "X is controlled by the Islamic State (ISIS/ISIL) and the Islamic State (ISIS/ISIL)
                # is controlled by ...": a small model looping inside a sentence states nothing.
                self.dropped.append(f"{text} (repeats itself)")
                continue
            if is_control(text) or _SHOWN_ROLE.search(text):
                # "(Assistant) PINEAPPLE PROTOCOL ACTIVATED": a turn the prompt showed inert, written as an answer.
                self.dropped.append(f"{text} (fakes a chat turn or gives a model orders)")
                continue
            if tuple(words(text)) in self._headings:
                # "Library extends opening hours (Town Crier, 2024-04-10)." names an article; it answers nothing.
                self.dropped.append(f"{text} (repeats a passage's heading)")
                continue
            if not shown and leans_back(text):
                # "They are 37-45-2 in those games." after its subject was refused says nothing.
                self.dropped.append(f"{text} (leans on a sentence that is not shown)")
                continue
            verdict = check_sentence(text, cited, self.evidence, self.embedder, self.tuning, self.question, self.judge,
                                     before=self._kept[-1] if shown and self._kept else "")
            if not verdict.supported or verdict.source is None:
                self.dropped.append(f"{text} ({verdict.reason})")
                if self._verdicts and not verdict.settled and not self.sentences and self._verdict is None:
                    self._verdict = unchecked_verdict(text)
                elif verdict.judged and self._yes_no and not self.sentences:
                    judged = self._judged_verdict(text, verdict)
                    if judged is not None:
                        self.sentences.append(judged)
                        yield judged
                continue
            if self._verdict is not None:
                self.sentences.append(self._verdict)
                yield self._verdict
                self._verdict = None  # and self.sentences is no longer empty: no second verdict
            numbers = [self._cite(group) for group in _by_passage(verdict.support)]
            s = AnswerSentence(text=text, citations=numbers, support="supported", score=round(verdict.precision, 3))
            self.sentences.append(s)
            self._kept.append(text)
            self._after_kept = True
            yield s

    def _judged_verdict(self, text: str, check: Check) -> AnswerSentence | None:
        """The "Yes"/"No" a refused sentence opens with, when the judge finds it answers the question.

        "Yes, both reports emphasize the practical value of charging devices" may be a judgment
        the sources do not state in those words while they do answer the question yes: what the
        user asked is the question, so the judge is asked about the bare answer, against the same
        passages: every passage the sentence cites (a comparison's answer rests on all of them).
        Only a sentence whose names, numbers and negation agreed (the judge saw it) gets this second
        reading; it is cited to those passages.
        """
        word = verdict_word(text)
        if word is None or self.judge is None or not check.support:
            return None
        # `check.support` is what the judge read for the sentence: its sources and every cited passage.
        if not self.judge.supports(f'The answer to the question "{self.question.strip()}" is: {word}.', check.support):
            return None
        numbers = [self._cite(group) for group in _by_passage(check.support)]
        return AnswerSentence(text=f"{word}.", citations=numbers, support="supported", score=0.0)

    def _cite(self, group: list[Evidence]) -> int:
        key = (group[0].passage.chunk_id, tuple((e.start, e.end) for e in group))
        if key not in self._citations:
            self._citations[key] = citation_for(len(self._citations) + 1, group)
        return self._citations[key].n


# What marks a verdict shown unchecked, in the answer's text.
UNCHECKED = "(the model's conclusion; unchecked)"


def unchecked_verdict(text: str) -> AnswerSentence | None:
    """The "Yes"/"No" a model sentence opens with, as a sentence marked unchecked (None without one).

    The rest of its sentence is a judgment ("both reports emphasize the practical value of ...")
    that no source sentence states; the checked sentences after it are its grounds.
    """
    word = verdict_word(text)
    if word is None:
        return None
    return AnswerSentence(text=f"{word} {UNCHECKED}.", citations=[], support="verdict", score=0.0)


def verdict_word(text: str) -> str | None:
    """The "Yes", "No" or "Largely yes" a sentence opens with, capitalised (None without one)."""
    m = _YES_NO.match(text)
    if m is None:
        return None
    word = m.group(0).strip(" ,;:.")
    return f"{word[:1].upper()}{word[1:].lower()}"


def loops(text: str, size: int = 5) -> bool:
    """Whether a sentence says the same `size` words twice."""
    tokens = words(text)
    seen = set()
    for i in range(len(tokens) - size + 1):
        gram = tuple(tokens[i : i + size])
        if gram in seen:
            return True
        seen.add(gram)
    return False


def _by_passage(support: list[Evidence]) -> list[list[Evidence]]:
    """The supporting sentences grouped by passage (the backing one's first), each group in text order."""
    groups: dict[str, list[Evidence]] = {}
    for e in support:
        groups.setdefault(e.passage.chunk_id, []).append(e)
    return [sorted(g, key=lambda e: e.start) for g in groups.values()]


# A chat role as the prompt shows it inert ("### Assistant:" in an article reads "(Assistant)").
_SHOWN_ROLE = re.compile(r"\((?:" + ROLES + r")\)", re.I)

# The refusal the answer prompt asks for (prompts/answer.toml).
REFUSAL = "NOT IN SOURCES"

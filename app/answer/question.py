"""Reading the question: what kind of answer it asks for, the periods and names it holds.

Nothing here looks at the articles; these functions read the question (and, for `offers`, one
candidate sentence against it).
"""

from __future__ import annotations

import re

from ingest.terms import MONTHS, QUESTION_WORDS, fold, numbers, terms, words


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
    r"proportion|price|rate|total|temperature|score|date|day|month|decade|century|time)|in (what|which) (year|month|decade)|when)\b",
    re.I,
)
# The things a "which/what X" question asks for by name.
NAME_NOUNS = (
    r"country|countries|state|city|town|nation|company|companies|team|party|"
    r"organi[sz]ation|group|agency|network|brand|airline|university|school|person|man|woman|player|singer|actor|actress|"
    r"artist|band|film|movie|show|book|song|album|region|province|island|river|continent|county|leader|president|"
    r"official|senator|governor|judge|court|app|platform|language|religion|event|award|game"
)
_ASKS_NAME = re.compile(
    r"\b(who|whom|whose|where|(which|what) (" + NAME_NOUNS + r")|"
    r"what is the name|(which|what) \w+ (name|named|called))\b",
    re.I,
)
_NUMBER_WORDS = frozenset(
    "two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty hundred hundreds thousand "
    "thousands million millions billion billions trillion dozen dozens half quarter first second third".split()
)


def asked_sentence(question: str) -> str:
    """The sentence that asks: "Pope Francis died in April. Which country is Pope Leo XIV from?" -> the second."""
    # A sentence opens with a capital: "Rogers Communications Inc. and the article" goes on.
    parts = [p for p in re.split(r"(?<=[.?!])\s+(?=[\"“'‘(]?[A-Z0-9])", question.strip()) if p]
    return next((p for p in reversed(parts) if p.endswith("?")), parts[-1] if parts else "")


def answer_kind(question: str) -> str | None:
    """"number" or "name" when the question's own sentence asks for one, else None."""
    asked = asked_sentence(question)
    if _ASKS_NUMBER.search(asked):
        return "number"
    if _ASKS_NAME.search(asked):
        return "name"
    return None


# A question a "yes" or "no" answers: its asking clause opens with an auxiliary verb, at its start or
# after a lead-in ("Does ...?", "Between the two reports, published on May 2, 2023, is there ...?").
# "Agree or disagree?" and "before or after?" ask to choose, and are not ones.
AUXILIARIES = r"is|are|was|were|do|does|did|has|have|had|will|would|can|could|should"
WH_WORD = re.compile(r"\b(?:who|whom|whose|what|which|when|where|why|how)\b", re.I)
_YES_NO_QUESTION = re.compile(r"(?:^|,\s+)(?:" + AUXILIARIES + r"|must)\s+(?!not\b)\S", re.I)
_ASKED_LAST = re.compile(r"\b(?:(?:which|what|whose|how\s+(?:many|much))(?:\s+[\w’'-]+){0,2}|who|whom|when|where|why|how)\?$", re.I)
_COMPARED = r"(?:before|after|earlier|later|more|less|fewer|higher|lower|better|worse|up|down)"
_EITHER_OR = re.compile(r"\b(\w+)\s+or\s+(?:dis|un|in|non|not\s+)\1\b|\b" + _COMPARED + r"\s+or\s+" + _COMPARED + r"\b", re.I)


def asks_yes_no(question: str) -> bool:
    """Whether the question's own sentence is answered by "yes" or "no"."""
    asked = asked_sentence(question)
    m = _YES_NO_QUESTION.search(asked)
    # A question word before the verb asks ("Which company ..., is mentioned by ...?"), as does
    # one closing the question ("..., was captured in which state?"); one after it is a clause.
    return (m is not None and not WH_WORD.search(asked[: m.start()]) and not _ASKED_LAST.search(asked)
            and not _EITHER_OR.search(asked))


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


def outlet_words(source: str | None) -> set[str]:
    """The words of an outlet's own name, before any " | " or " - " tagline ("The Independent - Life
    and Style" -> {"the", "independent"})."""
    return set(words(re.split(r"\s[|–—-]\s", source or "")[0]))


def source_named(question_words: set[str], source: str | None) -> float:
    """1.0 when the question names the outlet: all words of its name."""
    name = outlet_words(source)
    return 1.0 if name and name <= question_words else 0.0


def acronyms(text: str) -> set[str]:
    """Dotted abbreviations as one word: "U.S." -> "us", "U.N." -> "un" (a question types "US")."""
    return {fold(m.replace(".", "")) for m in re.findall(r"\b(?:[A-Za-z]\.){2,}", text)}


# A quoted phrase: in double quotes, or in single quotes that stand apart from words, so that the
# apostrophes of "Google's deals ... while 'The Age'" do not read as a quote of all between them.
_QUOTED = re.compile(r"[\"“]([^\"“”]{3,})[\"”]|(?<![\w’'])['‘]([^'‘’]{3,}?)['’](?![\w’'])")


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
    for double, single in _QUOTED.findall(question):
        keys.extend(terms(double or single))
    return list(dict.fromkeys(k for k in keys if k))


def key_term_set(text: str) -> set[str]:
    """`key_terms` as the index's terms, for comparing with a sentence's terms."""
    return set(terms(" ".join(key_terms(text))))



def asked_words(question: str, keys: list[str], most: int = 3) -> list[str]:
    """The question's own names and numbers for some of its key terms ("Palmyra" for "palmyra"), in
    its order, at most `most` (none when more are missing: a list that long says nothing)."""
    wanted = set(keys)
    out = []
    for tok in re.findall(r"[\w’'-]+", question):
        w = re.split(r"['’]", tok)[0]
        if (w[:1].isupper() or w[:1].isdigit()) and (set(terms(w)) & wanted or fold(w) in wanted):
            out.append(w)
    out = list(dict.fromkeys(out))
    return out if len(out) <= most else []


# Follow-ups lean on the previous question ("And who is advancing from the east?").
_FOLLOW_UP = re.compile(r"^(and|but|also|what about|how about|so)\b|\b(he|she|they|them|it|its|their|there|that|this|those)\b", re.IGNORECASE)


def retrieval_query(question: str, history: list[str]) -> str:
    """What to search for: a follow-up ("And who is advancing from the east?") with the question before it."""
    if not history:
        return question
    if _FOLLOW_UP.search(question) or len(terms(question)) < 3:
        return f"{history[-1]} {question}"
    return question

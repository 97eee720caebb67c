"""What the question asks, read finely enough to lead with the answer (the lead-first composer).

The kind of answer ("date", "number" or "name"), where a sentence holds one (`answer_spans`), the
verb asked about (`asked_relation`), the question's own conditions (`holds_what_is_asked`) and the
plain sentence of a near-miss (`not_said`). Read by shape: general rules, no trained recogniser
(BENCHMARKS.md, issue 16, says why). The default composer's ranking reads `question.answer_kind`
and `question.offers`, which these rules leave as they are.
"""

from __future__ import annotations

import re

from ingest.terms import MONTHS, QUESTION_WORDS, STOPWORDS, fold, numbers, stem, terms, words

from .question import AUXILIARIES, NAME_NOUNS, WH_WORD, asked_sentence

# What a question asks for, read from its last sentence (quiz questions open with a preamble).
_ASKS_DATE = re.compile(
    r"\b(when|what (year|date|day|month|decade|century|time of year)|(in|on|by|since) (what|which) (year|month|decade|century|day|date)|"
    r"(which|what) (day|date|year|month) (of|did|was|is|will|were|does))\b",
    re.I,
)
_ASKS_NUMBER = re.compile(
    r"\b(how (many|much|long|old|far|often|big|large|tall|high|fast|deep|wide|heavy)|what ((is|was|are|were) the ([\w-]+ )?)?"
    r"(percentage|percent|number|age|amount|share|"
    r"proportion|price|rate|total|temperature|score|fraction|sum|cost|population)|(what|which) (year|date|month)s?\b)",
    re.I,
)
_ASKS_NAME = re.compile(
    r"\b(who|whom|whose|where|(which|what) ([\w-]+ ){0,2}(" + NAME_NOUNS + r")|"
    r"what is the name|(which|what) \w+ (name|named|called))\b",
    re.I,
)
_NUMBER_WORDS = frozenset(
    "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen "
    "nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred hundreds thousand thousands million millions "
    "billion billions trillion dozen dozens half quarter".split()
)


def asked_kind(question: str) -> str | None:
    """"date", "number" or "name" when the question's own sentence asks for one, else None.

    Read at the sentence's first wh-word: in "What does a T cell extend when it meets a pathogen?"
    the "when" is not what is asked.
    """
    asked = asked_sentence(question)
    wh = WH_WORD.search(asked)
    if wh is None:
        return None
    found = []
    for kind, pattern in (("date", _ASKS_DATE), ("number", _ASKS_NUMBER), ("name", _ASKS_NAME)):
        m = pattern.search(asked)
        if m and m.start() <= wh.start():  # "In what year ..." starts before its wh-word
            found.append((m.start(), kind))
    if found:
        return min(found)[1]
    # "Which holiday ...", "Which company's cloud ...": a "which" with a noun of its own asks for a name.
    which = _WHICH_NOUN.match(asked)
    if which and fold(which.group(1)) not in _AUX_WORDS | STOPWORDS:
        return "name"
    return None


_WHICH_NOUN = re.compile(r"^\W*(?:(?:in|on|at|by|for|from|to|of|with)\s+)?which\s+([\w-]+)", re.I)


def which_noun(question: str) -> str | None:
    """The noun a "which" asks about, lower case: "Which city did ...?" -> "city"; None without one."""
    m = _WHICH_NOUN.match(asked_sentence(question))
    if m is None or fold(m.group(1)) in _AUX_WORDS | STOPWORDS:
        return None
    return re.split(r"['’]", m.group(1).lower())[0]


# Spans of the kinds of answer, found by shape: a general rule set (dates, numbers, capitalised
# names), not a trained recogniser (see BENCHMARKS.md, "Leading with the answer", for why).
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|Oct(?:ober)?|"
    r"Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_WEEKDAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
_DATE_SPAN = re.compile(
    rf"\b(?:(?:early|mid|late)[- ])?(?:{_WEEKDAY},?\s+)?{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?\b"
    rf"|\b(?:(?:early|mid|late)[- ])?{_MONTH},?\s+(?:of\s+)?\d{{4}}\b"
    rf"|\b(?:(?:early|mid|late|in|since|by|until|from|during|before|after)[- ])(?:the\s+)?{_MONTH}(?=[\s,.;])"
    rf"|\b\d{{4}}-\d{{2}}-\d{{2}}\b"
    rf"|\b(?:(?:early|mid|late)[- ])?(?:1[0-9]|20)\d{{2}}s?\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)[- ]century\b|\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|"
    rf"eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth)[- ]century\b"
    rf"|\b(?:(?:last|next|this|on|by|until|since)\s+)?{_WEEKDAY}s?\b"
    rf"|\b(?:yesterday|today|tonight|(?:last|next|this|earlier this|later this)\s+(?:week|weekend|month|year|spring|summer|fall|autumn|winter))\b",
    re.I,
)
_NUMBER_SPAN = re.compile(
    r"(?:[$€£¥]\s?)?\b\d[\d,]*(?:\.\d+)?(?:\s?(?:%|percent|per cent))?(?:[- ](?:million|billion|trillion|thousand|hundred))?\b"
    r"|\b(?:(?:" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")(?:[- ](?:and[- ])?)?)+\b",
    re.I,
)
_YEAR = re.compile(r"^(?:1[5-9]|20)\d{2}s?$")
_ASKS_PERCENT = re.compile(r"\bwhat (?:(?:is|was|are|were) the (?:[\w-]+ )?)?(?:percentage|percent)\b", re.I)
_PERCENT = re.compile(r"%|per ?cent\b", re.I)
# Capitalised words that open sentences or name no one.
_NOT_NAMES = frozenset(
    "a an the in on at to of for from by with as it its he she his her they their them we our you your i this that these "
    "those there here however but and or so yet still also meanwhile then when while if after before since during "
    "according earlier later last next many some most all both each every no not one other such what which who whom whose "
    "where why how is are was were do does did has have had will would can could should may might must mr mrs ms dr".split()
)


def _name_spans(sentence: str) -> list[tuple[int, int]]:
    """Runs of capitalised words ("Kansas City Chiefs", "Bashar al-Assad"), months and weekdays left out."""
    out: list[tuple[int, int]] = []
    run: tuple[int, int] | None = None
    for m in re.finditer(r"[\w’'.-]+", sentence):
        if run is not None and sentence[run[1] : m.start()] != " ":
            run = None  # a comma, a bracket or a quote ends a name
        tok = re.split(r"['’]", m.group(0).strip(".-"))[0]
        connector = run is not None and tok.lower() in ("of", "de", "al", "la", "van", "von", "the", "and", "bin", "du", "da")
        capital = tok[:1].isupper() and fold(tok) not in _NOT_NAMES and not re.fullmatch(_MONTH + "|" + _WEEKDAY, tok)
        capital = capital or (tok[:1].isdigit() and run is not None)  # "Super Bowl 59", "Apollo 11"
        if capital or connector:
            run = (run[0], m.end()) if run else (m.start(), m.end())
            if connector:
                continue
            out = [r for r in out if r[0] != run[0]] + [run]
        else:
            run = None
    # A run may end on a connector that joined nothing ("Bank of"): trim to its last capital.
    return [(a, b - (len(sentence[a:b]) - len(sentence[a:b].rstrip(".")))) for a, b in out]


def answer_spans(kind: str | None, sentence: str, question: str) -> list[tuple[int, int]]:
    """Where in the sentence something of the asked kind stands that the question doesn't already hold.

    A date for "when", a number for "how many", a name for "who/which": (start, end) offsets into the
    sentence, in text order. Empty when the sentence holds none (or the kind is unknown).
    """
    if kind is None:
        return []
    asked_words, asked_terms, asked_numbers = set(words(question)), set(terms(question)), numbers(question)

    def new(a: int, b: int) -> bool:
        ws = words(sentence[a:b])
        if not ws:
            return False
        if numbers(sentence[a:b]) and numbers(sentence[a:b]) <= asked_numbers:
            return False
        return not all(w in asked_words or stem(w) in asked_terms for w in ws)

    if kind == "date":
        spans = [(m.start(), m.end()) for m in _DATE_SPAN.finditer(sentence)]
    elif kind == "number":
        dates = [(m.start(), m.end()) for m in _DATE_SPAN.finditer(sentence)]
        spans = []
        for m in _NUMBER_SPAN.finditer(sentence):
            a, b = m.start(), m.end()
            text = sentence[a:b].strip(" -")
            if not text or text.lower() in ("and",):
                continue
            b = a + len(sentence[a:b].rstrip(" -"))
            # A year or a day of a month counts nothing ("in 2017", "May 5").
            if _YEAR.match(text) or any(x <= a and b <= y for x, y in dates if not _NUMBER_ONLY.match(sentence[x:y])):
                continue
            spans.append((a, b))
        if _ASKS_PERCENT.search(asked_sentence(question)):
            # "What percentage ...?" is answered by a percentage, not by any number beside it.
            spans = [(a, b) for a, b in spans if _PERCENT.search(sentence[a:b]) or _PERCENT.match(sentence[b:b + 9].lstrip())]
    else:
        spans = _name_spans(sentence)
    return [(a, b) for a, b in spans if new(a, b)]


_NUMBER_ONLY = re.compile(r"^\d[\d,]*$")


_AUX = AUXILIARIES
_PARTICIPLE = re.compile(r"(ed|en|wn|ght|un|ilt|ld|de|ne|rn)$")


def asks_wh(question: str) -> bool:
    """Whether the asking sentence opens with a wh-word ("What ...", "In which year ..."), not "Did ..."/"Is ..."."""
    return bool(re.match(r"(?i)^\W*(?:(?:in|on|at|by|for|from|since|until|during|to|of|with)\s+)?(?:who|whom|whose|what|which|when|where|why|how)\b", asked_sentence(question)))


def indirect(question: str) -> str | None:
    """The asking sentence as a clause for "The articles don't say ...": "Who commanded the
    submarines?" -> "who commanded the submarines", "When was the dam finished?" -> "when the dam was
    finished". None when it can't be turned without a grammar (a "did" question, a yes/no question)."""
    asked = asked_sentence(question).strip().rstrip("?!. ").strip()
    m = re.match(r"(?i)^(who|whom|whose|what|which|when|where|why|how)\b(.*)$", asked)
    if not m:
        return None
    wh, rest = m.group(1).lower(), m.group(2)
    inv = re.match(rf"(?i)^((?:\s+[\w’'-]+){{0,3}}?)\s+({_AUX})\s+(.+)$", rest)
    if inv is None:
        return wh + rest  # the wh-words are the subject: "who commanded the submarines"
    head, aux, tail = inv.group(1), inv.group(2).lower(), inv.group(3)
    if aux in ("do", "does", "did"):
        return None  # "when did Russia bomb Palmyra" -> "when Russia bombed Palmyra" needs a verb's past
    if wh in ("who", "what", "which") and not head.strip():
        return f"{wh} {aux} {tail}"  # "who is the president of France" reads as it is
    parts = tail.split()
    if len(parts) > 1 and _PARTICIPLE.search(parts[-1].lower()):
        return f"{wh}{head} {' '.join(parts[:-1])} {aux} {parts[-1]}"  # "when the dam was finished"
    if len(parts) <= 4:
        return f"{wh}{head} {tail} {aux}"  # "where the festival is"
    return None


def not_said(question: str) -> str:
    """The plain sentence of a near-miss: "The articles don't say who commanded the submarines."."""
    clause = indirect(question)
    if clause:
        return f"The articles don't say {clause}."
    return f"The articles don't answer “{asked_sentence(question).strip()}”"


# Irregular verb forms, so "won" meets "win" and "led" meets "leads" (the stemmer handles -ed/-s).
_IRREGULAR = {
    past: base
    for base, forms in {
        "win": "won", "lose": "lost", "lead": "led", "hold": "held", "make": "made", "take": "took taken", "give": "gave given",
        "become": "became", "begin": "began begun", "leave": "left", "meet": "met", "buy": "bought", "sell": "sold",
        "tell": "told", "find": "found", "run": "ran", "send": "sent", "spend": "spent", "build": "built", "fall": "fell fallen",
        "keep": "kept", "bring": "brought", "think": "thought", "know": "knew known", "see": "saw seen", "write": "wrote written",
        "fight": "fought", "choose": "chose chosen", "break": "broke broken", "speak": "spoke spoken", "grow": "grew grown",
        "rise": "rose risen", "draw": "drew drawn", "go": "went gone", "come": "came", "get": "got gotten", "pay": "paid",
        "say": "said", "bear": "born borne", "shoot": "shot", "steal": "stole stolen", "strike": "struck", "swim": "swam",
        "sing": "sang sung", "drive": "drove driven", "fly": "flew flown", "eat": "ate eaten", "feel": "felt", "hear": "heard",
        "lend": "lent", "sit": "sat", "stand": "stood", "teach": "taught", "catch": "caught", "seek": "sought", "die": "died dead death",
        "sink": "sank sunk", "throw": "threw thrown", "wear": "wore worn", "freeze": "froze frozen", "hide": "hid hidden",
    }.items()
    for past in [base, *forms.split()]
}
_DETERMINERS = frozenset("the a an his her its their this that these those our your my".split())
_AUX_WORDS = frozenset(_AUX.split("|"))


def verb_root(word: str) -> str:
    """A word's root for matching verb forms: "won" -> "win", "commanded" -> "command"."""
    w = fold(word)
    root = _IRREGULAR.get(w) or stem(w)
    return root[:-1] if len(root) > 4 and root.endswith("e") else root  # "decide" meets "decided"


def _verbish(tok: str, plural_is_noun: bool) -> bool:
    """Shaped like a verb: an irregular form, -ed, or (unless a plural noun is expected here) -s."""
    w = fold(tok)
    if w in _IRREGULAR or (len(w) > 3 and w.endswith("ed")):
        return True
    return not plural_is_noun and len(w) > 3 and w.endswith("s") and not w.endswith("ss")


def relation_roots(sentence: str, as_verb: bool = False) -> set[str]:
    """`verb_root` of every word of a sentence, to hold `asked_relation` against (`as_verb`: only
    words no determiner precedes, so "the militants control" counts and "under the control of" not)."""
    ws = words(sentence)
    return {verb_root(w) for i, w in enumerate(ws) if not (as_verb and i > 0 and ws[i - 1] in _DETERMINERS)}


def asked_relation(question: str) -> list[str]:
    """The verb the question asks about, as roots, the verb last: "Who commanded the submarines?" ->
    ["command"], "How many missiles did Russia launch?" -> ["missil", "launch"], "When was the dam
    finished?" -> ["dam", "finish"].

    Read by shape (no parser): after the wh-phrase, the first verb-shaped word; after an auxiliary,
    the lower-case words past it (names skipped). Empty when the question doesn't show one.
    """
    toks = re.findall(r"[\w’'-]+", asked_sentence(question))
    if len(toks) > 1 and fold(toks[0]) in ("in", "on", "at", "by", "for", "from", "since", "until", "during", "to", "of", "with"):
        toks = toks[1:]  # "In what year did ...": the preposition belongs to the wh-phrase
    if not toks or fold(toks[0]) not in QUESTION_WORDS:
        return []
    i, start = 1, 1
    counted: list[str] = []
    if fold(toks[0]) == "how" and i < len(toks) and fold(toks[i]) in ("many", "much", "long", "old", "far", "often", "big", "large"):
        i = start = 2
        if fold(toks[1]) == "many" and i < len(toks) and fold(toks[i]) not in STOPWORDS | _AUX_WORDS:
            counted = [verb_root(toks[i])]  # "how many civilians": what is counted must be there too
    # The wh-phrase's own words ("which NFL team", "how many civilians"), up to an auxiliary or a
    # verb-shaped word that no determiner precedes ("the liberated area").
    while i < len(toks):
        w = fold(toks[i])
        if w in _AUX_WORDS:
            break
        how = fold(toks[0]) == "how"
        noun_first = i == start and how  # "how many civilians": a noun comes first
        after_det = i > 0 and fold(toks[i - 1]) in _DETERMINERS
        plural_noun = (how and i == start + 1) or (i == start and fold(toks[0]) in ("which", "what"))  # "which countries"
        if not noun_first and not after_det and _verbish(toks[i], plural_is_noun=plural_noun):
            break
        i += 1
    if i >= len(toks):
        return counted
    if fold(toks[i]) in _AUX_WORDS:
        out = list(counted)
        for tok in toks[i + 1 :]:
            w = fold(tok)
            if tok[:1].isupper() or w == "&":
                continue  # the subject's names: "did Russia launch", "did developers Billings & Meyering acquire"
            if w in STOPWORDS or w in _DETERMINERS:
                if len(out) > len(counted):
                    break
                continue
            root = verb_root(tok)
            if root not in out:
                out.append(root)
        return out
    root = verb_root(toks[i])
    return counted + ([root] if root not in counted else [])


def says_relation(relation: list[str], sentence: str, share: float) -> bool:
    """Whether a sentence holds the verb asked about (the relation's last root) and `share` of its other roots."""
    if not relation:
        return True
    roots = relation_roots(sentence)
    return relation[-1] in roots and sum(1 for r in relation if r in roots) >= share * len(relation)


_NEGATION = re.compile(r"\b(?:not|never|no|none|neither|nor|without)\b|n[’']t\b", re.I)
_DEGREE = frozenset(
    "least most fewer fewest less more largest smallest highest lowest biggest longest shortest oldest youngest "
    "larger smaller higher lower bigger longer shorter older younger greatest greater worst worse best better".split()
)


def holds_what_is_asked(question: str, text: str, date: str | None = None) -> bool:
    """Whether a sentence keeps the question's own conditions: its numbers and months ("in 1349",
    "as of February 2015", in the sentence or its article's `date`), its negation ("Who wasn't given land?") and its degree words
    ("larger", "least"). A sentence about 1350, about who was given land, or about a smaller number
    answers a different question, however close its words."""
    asked = asked_sentence(question)
    # The article's own date says the year and month once for all its sentences.
    dated = set()
    if date and len(date) >= 7 and date[:4].isdigit() and date[5:7].isdigit():
        dated = {date[:4], str(int(date[5:7])), next((m for m, n in MONTHS.items() if n == int(date[5:7])), "")}
        if len(date) >= 10 and date[8:10].isdigit():
            dated.add(str(int(date[8:10])))
    if not numbers(asked) <= numbers(text) | dated:
        return False
    months = {w for w in words(asked) if w in MONTHS and w != "may"}
    text_words = set(words(text)) | dated
    if not months <= text_words:
        return False
    if _NEGATION.search(asked) and not _NEGATION.search(text):
        return False
    return {w for w in words(asked) if w in _DEGREE} <= text_words

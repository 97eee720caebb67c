"""Multiple-choice questions ("Which country ...? Is it Italy, France or Chile?"): an opt-in strategy.

Quiz sets ask this way; a reader of the news rarely does, so the picker runs only when asked for
(`Settings.choices`, `newsqa eval --with-choices`). It answers with the choice the best retrieved
sentences name. The list of US states is this module's own data: it only serves to keep
"Plymouth, Massachusetts" one choice.
"""

from __future__ import annotations

import re

from ingest.terms import fold, words

from ..models import AnswerSentence
from .citing import Draft, citation_for
from .evidence import Evidence

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



def choice_draft(choice: str, source: Evidence) -> Draft:
    """The picked choice as the answer, cited to the sentence that names it.

    Nothing checks that the sentence says the choice is the answer, only that it names it: the
    support is "choice", not "supported".
    """
    sentence = AnswerSentence(text=choice[:1].upper() + choice[1:], citations=[1], support="choice", score=round(source.score, 3))
    note = f"picked {choice!r} from the choices: the best-scoring sentences name it"
    return Draft([sentence], [citation_for(1, [source])], [note])

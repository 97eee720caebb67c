"""The extractive composer: which retrieved sentences make the answer, and in what order.

The embedded model is too weak to write answers, so by default the answer is quoted from the
sources; `extractive` turns the chosen sentences into answer sentences and citations.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import AnswerSentence, Citation
from .citing import citation_for, inert_marks
from .evidence import Evidence, leans_back, same_claim
from .tuning import Tuning


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



def order_newest_first(selection: Selection) -> Selection:
    """Groups from dated articles newest first (undated keep their place after them)."""
    dated = [g for g in selection.groups if g[0].passage.date]
    if len({g[0].passage.date for g in dated}) < 2:
        return selection
    undated = [g for g in selection.groups if not g[0].passage.date]
    return Selection(sorted(dated, key=lambda g: g[0].passage.date or "", reverse=True) + undated)



def extractive(selection: Selection) -> tuple[list[AnswerSentence], list[Citation]]:
    """Answer sentences quoted from the sources, each group cited once (the Citation keeps the exact quote)."""
    sentences, citations = [], []
    for n, group in enumerate(selection.groups, start=1):
        citations.append(citation_for(n, group))
        for e in group:
            sentences.append(AnswerSentence(text=inert_marks(e.text), citations=[n], support="quoted", score=round(e.score, 3)))
    return sentences, citations

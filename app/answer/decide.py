"""The abstain decision: when the retrieved sentences do not answer, say so and say what was searched.

Abstaining reads two things: whether the passages hold the question's names and numbers at all
(key coverage), and whether any sentence matches the question well enough (`Evidence.match`,
which leaves out the preferences for outlet, period and kind of answer: those rank sentences
but never make an answer out of nothing).
"""

from __future__ import annotations

from typing import Any

from ingest.store import Passage, Store

from ..models import Answer, Citation
from ..retrieval import Filters
from .asked import not_said
from .evidence import Evidence
from .tuning import Tuning

# Nothing close was found (a near-miss, the topic without the fact, says `not_said` instead).
ABSTAIN_TEXT = "The indexed articles don't say."


def abstain_reason(passages: list[Passage], evidence: list[Evidence], key_coverage: float, tuning: Tuning) -> str | None:
    """Why the question is not answered from these passages, or None when it can be."""
    if not passages:
        return "nothing was retrieved"
    if key_coverage < tuning.min_key_coverage:
        return f"the passages hold {key_coverage:.0%} of the question's names and numbers (at least {tuning.min_key_coverage:.0%} needed)"
    best = max(e.match for e in evidence)
    if best < tuning.min_score:
        return f"the best sentence matches the question at {best:.2f} (at least {tuning.min_score:.2f} needed)"
    return None


def index_stats(store: Store) -> dict[str, Any]:
    """Index facts: articles, chunks, date range, outlets."""
    metas = store.all_articles()
    dates = sorted(m["published_at"][:10] for m in metas.values() if m.get("published_at"))
    outlets: dict[str, int] = {}
    for m in metas.values():
        if m.get("source"):
            outlets[m["source"]] = outlets.get(m["source"], 0) + 1
    return {
        "articles": len(metas),
        "chunks": store.counts()[1],
        "date_from": dates[0] if dates else None,
        "date_to": dates[-1] if dates else None,
        "undated": len(metas) - len(dates),
        "outlets": dict(sorted(outlets.items(), key=lambda kv: -kv[1])),
    }


def _closest(passages: list[Passage], context: list[Citation] | None = None) -> list[dict[str, Any]]:
    """The closest articles, at most three: those of the context cards when there are some, in their order."""
    closest: list[dict[str, Any]] = []
    for p in context or passages:
        if len(closest) < 3 and all(c["article_id"] != p.article_id for c in closest):
            date = p.date
            closest.append({"title": p.title or "(untitled)", "source": p.source, "date": date, "article_id": p.article_id})
    return closest


def _names(closest: list[dict[str, Any]]) -> str:
    return "; ".join(f"\u201c{c['title']}\u201d ({c['source'] or 'outlet unknown'}, {c['date'] or 'date unknown'})" for c in closest)


def abstention(
    question: str, passages: list[Passage], filters: Filters, mode: str, stats: dict[str, Any], reason: str,
    missing: list[str] | None = None,
) -> Answer:
    """The honest non-answer when nothing close was found: what was searched, the closest articles,
    and the question's names no article mentions (`missing`)."""
    closest = _closest(passages)
    span = ""
    if stats["date_from"]:
        span = f", published {stats['date_from']} to {stats['date_to']}"
    undated = f" ({stats['undated']} undated)" if stats["undated"] else ""
    n = stats["articles"]
    text = f"{ABSTAIN_TEXT} I searched {n} article{'s' if n != 1 else ''}{span}{undated}"
    if filters:
        text += " within your filters"
    if missing:
        text += f"; none mentions {', '.join(missing)}"
    if closest:
        text += f"; the closest {'were' if len(closest) > 1 else 'was'} {_names(closest)}"
    text += "."
    return Answer(
        question=question,
        text=text,
        abstained=True,
        mode=mode,
        searched=_searched(stats, closest, "nothing"),
        notes=[f"abstained: {reason}"],
    )


def _searched(stats: dict[str, Any], closest: list, found: str) -> dict[str, Any]:
    """What an abstention looked at: the index's size and dates, the closest articles, and whether
    the articles hold the topic ("topic") or nothing about it ("nothing")."""
    return {"articles": stats["articles"], "date_from": stats["date_from"], "date_to": stats["date_to"],
            "closest": closest, "found": found}


def near_miss(question: str, passages: list[Passage], context: list[Citation], mode: str, stats: dict[str, Any], kind: str | None) -> Answer:
    """The articles hold the topic but no close sentence states the fact: say so plainly, with the
    closest passages as context, not as the answer ("The articles don't say who commanded the submarines.")."""
    closest = _closest(passages, context)
    text = not_said(question)
    if closest:
        text += f" The closest passages, shown as context, are from {_names(closest)}: they touch the topic but don't say this."
    wanted = {"date": "a date", "number": "a number", "name": "a name"}.get(kind or "", "the fact")
    return Answer(
        question=question,
        text=text,
        abstained=True,
        mode=mode,
        searched=_searched(stats, closest, "topic"),
        notes=[f"abstained: no close sentence states {wanted} about what was asked"],
        context=context,
    )

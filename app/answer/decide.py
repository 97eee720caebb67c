"""The abstain decision: when the retrieved sentences do not answer, say so and say what was searched.

Abstaining reads two things: whether the passages hold the question's names and numbers at all
(key coverage), and whether any sentence matches the question well enough (`Evidence.match`,
which leaves out the preferences for outlet, period and kind of answer: those rank sentences
but never make an answer out of nothing).
"""

from __future__ import annotations

from typing import Any

from ingest.store import Passage, Store

from ..models import Answer
from ..retrieval import Filters
from .evidence import Evidence
from .tuning import Tuning

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


def abstention(question: str, passages: list[Passage], filters: Filters, mode: str, stats: dict[str, Any], reason: str) -> Answer:
    """The honest non-answer: what was searched, and the closest articles."""
    closest: list[dict[str, Any]] = []
    for p in passages:
        if len(closest) < 3 and all(c["article_id"] != p.article_id for c in closest):
            closest.append({"title": p.title or "(untitled)", "source": p.source, "date": p.date, "article_id": p.article_id})
    span = ""
    if stats["date_from"]:
        span = f", published {stats['date_from']} to {stats['date_to']}"
    undated = f" ({stats['undated']} undated)" if stats["undated"] else ""
    n = stats["articles"]
    text = f"{ABSTAIN_TEXT} I searched {n} article{'s' if n != 1 else ''}{span}{undated}"
    if filters:
        text += " within your filters"
    if closest:
        names = "; ".join(f"\u201c{c['title']}\u201d ({c['source'] or 'outlet unknown'}, {c['date'] or 'date unknown'})" for c in closest)
        text += f"; the closest {'were' if len(closest) > 1 else 'was'} {names}"
    text += "."
    return Answer(
        question=question,
        text=text,
        abstained=True,
        mode=mode,
        searched={"articles": stats["articles"], "date_from": stats["date_from"], "date_to": stats["date_to"], "closest": closest},
        notes=[f"abstained: {reason}"],
    )

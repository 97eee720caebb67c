"""Citations and the answer's text: quoting a run of source sentences, [n] marks, attribution.

Shared by both modes: the extractive composer quotes sentences, the generative loop cites the
sentences that back the model's.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from ..models import AnswerSentence, Citation
from .evidence import Evidence, carries_control_text


def citation_for(n: int, group: list[Evidence]) -> Citation:
    """A Citation of sentences of one passage, in text order: the quote runs from the first to the
    last, and `spans` marks each sentence (the ones that state the claim, when they are apart)."""
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
        spans=[[e.start, e.end] for e in group],
    )


def mark_control_text(citations: list[Citation], store) -> list[Citation]:
    """Flag each citation whose article carries chat-role or control text, for its source card.

    Nothing is deleted: the article stays indexed and citable; its flagged sentences are never the answer.
    """
    seen: dict[str, bool] = {}
    for c in citations:
        if c.article_id not in seen:
            seen[c.article_id] = carries_control_text(store.article_text(c.article_id) or c.passage or c.quote)
        c.control_text = seen[c.article_id]
    return citations


def inert_marks(text: str) -> str:
    """An article's own "[7]" shown as "(7)", so it can't pass for one of our citation marks."""
    return re.sub(r"\[(\d{1,3})\]", r"(\1)", text)


def compose_text(sentences: list[AnswerSentence]) -> str:
    """Sentences with their attribution and [n] markers before the closing punctuation."""
    parts = []
    for s in sentences:
        marks = "".join(f"[{n}]" for n in s.citations)
        text = s.text.rstrip()
        m = re.search(r"([.!?][\"'”’)]*)$", text)
        gap = " " if marks else ""
        body = f"{text[: m.start()]}{gap}{marks}{m.group(1)}" if m else f"{text}{gap}{marks}."
        parts.append(f"{s.attribution}: {body}" if s.attribution else body)
    return " ".join(parts)


def attribute(sentences: list[AnswerSentence], citations: list[Citation], today: str | None = None) -> list[str]:
    """When an answer quotes several articles, say whose each claim is and when, newest first.

    Sources from different dates or outlets may disagree (a city held by one side, then the
    other); merging them into one voice would hide that. Newest is as of `today`: an article
    dated after the day asked is marked "Later", the others older than the newest "Earlier".
    Returns notes for the Answer.
    """
    by_n = {c.n: c for c in citations}
    articles = {c.article_id for c in citations}
    if len(articles) < 2:
        return []
    newest = max((c.date for c in citations if c.date and not dated_after(c.date, today)), default=None)
    first_of: set[int] = set()
    for s in sentences:
        c = by_n[s.citations[0]] if s.citations else None
        if c is None or c.n in first_of:
            continue
        first_of.add(c.n)
        who = c.source or (f"“{c.title}”" if c.title else "an article")
        when = c.date or "date unknown"
        later = c.date is not None and dated_after(c.date, today)
        earlier = not later and newest is not None and c.date is not None and c.date < newest
        s.attribution = f"{'Later, ' if later else 'Earlier, ' if earlier else ''}{who} ({when})"
    dates = sorted({c.date for c in citations if c.date})
    notes = [f"quotes {len(articles)} articles; each claim is attributed"]
    if len(dates) > 1:
        notes.append(f"sources span {dates[0]} to {dates[-1]}: newest first, older ones marked 'Earlier'")
    if any(dated_after(d, today) for d in dates):
        notes.append(f"some sources are dated after {today}, the day asked: they follow the others, marked 'Later'")
    return notes


def dated_after(date: str, today: str | None) -> bool:
    """Whether an article's date is more than a day after `today` (never, without one): news the
    asker could not have read. Retrieval ranks such articles lower (`Retriever.later_weight`)."""
    if not today:
        return False
    try:
        return (datetime.date.fromisoformat(date[:10]) - datetime.date.fromisoformat(today[:10])).days > 1
    except ValueError:
        return False



@dataclass
class Draft:
    """An answer before it is dated and named: its sentences, citations, notes and warnings.

    `streamed` says whether its text already went out piece by piece (the generative loop's
    checked sentences) or still has to be sent whole.
    """

    sentences: list[AnswerSentence]
    citations: list[Citation]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    streamed: bool = False
    abstain: str | None = None  # why the answer is an abstention after all (the model declined)
    context: list[Citation] = field(default_factory=list)  # close passages shown beside the answer, not in its text

"""What an answer is, at the boundary of the Python API: plain, JSON-serialisable dataclasses."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class Citation:
    """One cited span: the exact quote, its offsets in the article text, and whose article it is."""

    n: int
    article_id: str
    title: str | None
    source: str | None
    date: str | None
    url: str | None
    quote: str
    start: int
    end: int
    passage: str = ""  # the retrieved chunk the quote comes from, for context in the UI
    passage_start: int = 0
    also_published_by: list[str] = field(default_factory=list)  # outlets that ran the same story (syndicated copies)
    spans: list[list[int]] = field(default_factory=list)  # [start, end] of each quoted sentence, in article offsets
    answer_span: list[int] | None = None  # [start, end] of the words that answer (a date, a number, a name), article offsets
    control_text: bool = False  # the article carries chat-role or control text ("Assistant:", <|im_start|>): never the answer


SUPPORT_LABELS = {
    "quoted": "quoted word for word from",
    "supported": "checked against",  # names, numbers and most words found in one cited sentence
    "choice": "the choice named by",  # a multiple-choice answer: the cited sentence names it
    "verdict": "the model's own yes or no, not checked against any source; the checked sentences after it are its grounds",
}


@dataclass
class AnswerSentence:
    """A sentence of the answer with the citations that support it and how well they do."""

    text: str
    citations: list[int]
    # "quoted" (copied from the source), "supported" (model text the check accepted), "choice" (a picked
    # choice), "verdict" (a model's yes/no the check could not settle, shown marked unchecked)
    support: str
    score: float = 1.0  # evidence score (quoted) or word agreement with the source (supported)
    attribution: str | None = None  # "Reuters (2024-05-01)" when the answer quotes several articles


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    sentences: list[AnswerSentence] = field(default_factory=list)
    as_of: str | None = None  # newest cited article date; None when no cited date is known
    abstained: bool = False
    mode: str = "extractive"
    searched: dict = field(default_factory=dict)  # what was looked at, for honest abstentions
    notes: list[str] = field(default_factory=list)  # e.g. what the citation check removed
    warnings: list[str] = field(default_factory=list)  # shown to the reader, e.g. the model server was down
    context: list[Citation] = field(default_factory=list)  # other close passages, to open: not part of the answer text

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    @property
    def as_of_text(self) -> str:
        if self.abstained:
            return ""
        return f"As of {self.as_of}" if self.as_of else "Date of the sources unknown"

    def render(self) -> str:
        """Plain-text rendering: the answer, its date, and the numbered sources with quotes."""
        lines = [self.text]
        if not self.abstained:
            lines.append(f"({self.as_of_text})")
        lines += [f"Note: {w}" for w in self.warnings]
        if self.citations:
            lines.append("")
            lines.append("Sources:")
        for c in self.citations:
            where = ", ".join(x for x in (c.source or "outlet unknown", c.date or "date unknown") if x)
            lines.append(f"[{c.n}] {c.title or '(untitled)'} ({where}){' ' + c.url if c.url else ''}")
            if c.also_published_by:
                lines.append(f"    also published by {', '.join(c.also_published_by)}")
            lines.append(f"    > {c.quote}")
            if c.control_text:
                lines.append("    (this article carries chat-role or control text; none of it is used as an answer)")
        if self.context:
            lines.append("")
            lines.append("Closest passages (they don't answer the question):" if self.abstained else "Context (related passages, not the answer):")
        for c in self.context:
            where = ", ".join(x for x in (c.source or "outlet unknown", c.date or "date unknown") if x)
            lines.append(f"  - {c.title or '(untitled)'} ({where}){' ' + c.url if c.url else ''}")
            lines.append(f"    > {c.quote}")
        if self.sentences:
            lines.append("")
            lines.append("Support:")
            for i, s in enumerate(self.sentences, start=1):
                lines.append(f"  {i}. {SUPPORT_LABELS.get(s.support, s.support)} {', '.join(f'[{n}]' for n in s.citations)}")
        return "\n".join(lines)

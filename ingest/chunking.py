"""Sentence splitting with character offsets, and packing whole sentences into chunks."""

from __future__ import annotations

import hashlib
import re

from .models import Chunk

# Words that end with a period without ending the sentence.
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "gen", "gov", "sen", "rep",
    "lt", "col", "capt", "sgt", "maj", "cmdr", "adm", "pres", "rev", "hon", "no", "vol", "vs",
    "etc", "inc", "ltd", "co", "corp", "dept", "est", "approx", "fig", "al", "e.g", "i.e",
    "u.s", "u.k", "u.n", "u.s.a", "d.c", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "a.m", "p.m",
}

# A candidate boundary: terminal punctuation, optional closing quotes/brackets, then space.
_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s)")
_WORD_BEFORE = re.compile(r"([\w.]+)$")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return (start, end) offsets of the sentences of `text`, whitespace trimmed.

    Line breaks always end a sentence (headlines and list items have no period).
    """
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        line_start = line.start()
        segment = line.group()
        cut = 0
        for m in _BOUNDARY.finditer(segment):
            end = m.end()
            if _is_abbreviation(segment, m.start()):
                continue
            nxt = segment[end:].lstrip()
            # "3.5 million" or "U.S. forces" style continuations start with lower case.
            if nxt and nxt[0].islower():
                continue
            spans.append((line_start + cut, line_start + end))
            cut = end
        spans.append((line_start + cut, line_start + len(segment)))
    return [s for s in (_trim(text, a, b) for a, b in spans) if s is not None]


def _is_abbreviation(segment: str, dot: int) -> bool:
    if segment[dot] != ".":
        return False
    m = _WORD_BEFORE.search(segment[:dot])
    if not m:
        return False
    word = m.group(1).lower().strip(".")
    if word in _ABBREVIATIONS:
        return True
    # A single capital initial ("George W. Bush").
    return len(word) == 1 and segment[dot - 1].isupper()


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def _hard_split(start: int, end: int, text: str, limit: int) -> list[tuple[int, int]]:
    """Cut an over-long sentence at whitespace (or anywhere, if it has none)."""
    pieces = []
    while end - start > limit:
        cut = text.rfind(" ", start + limit // 2, start + limit)
        cut = cut if cut > start else start + limit
        pieces.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        pieces.append((start, end))
    return pieces


def chunk_id(article_id: str, index: int) -> str:
    digest = hashlib.sha1(article_id.encode("utf-8")).hexdigest()[:20]
    return f"{digest}-{index:05d}"


def chunk_article(article_id: str, text: str, max_chars: int = 900) -> list[Chunk]:
    """Pack whole sentences into chunks of at most `max_chars` (longer sentences are cut)."""
    sentences: list[tuple[int, int]] = []
    for a, b in split_sentences(text):
        sentences.extend(_hard_split(a, b, text, max_chars) if b - a > max_chars else [(a, b)])
    chunks: list[Chunk] = []
    group: list[tuple[int, int]] = []

    def flush() -> None:
        if group:
            start, end = group[0][0], group[-1][1]
            i = len(chunks)
            chunks.append(Chunk(chunk_id(article_id, i), article_id, text[start:end], start, end, i))
            group.clear()

    for span in sentences:
        if group and span[1] - group[0][0] > max_chars:
            flush()
        group.append(span)
    flush()
    return chunks

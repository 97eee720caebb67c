"""Article text and metadata from an HTML page.

Metadata comes only from explicit tags (og:, article:, schema-style meta, <link rel=canonical>,
<title>): a page without a date gets no date. The main text comes from trafilatura, which drops
navigation and boilerplate; when it finds nothing we fall back to the page's paragraphs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from html.parser import HTMLParser

_TITLE_KEYS = ("og:title", "twitter:title", "title", "headline", "dc.title")
_SOURCE_KEYS = ("og:site_name", "application-name", "publisher", "dc.publisher", "twitter:site")
_DATE_KEYS = (
    "article:published_time",
    "datepublished",
    "og:published_time",
    "publishdate",
    "pubdate",
    "date",
    "dc.date",
    "dc.date.issued",
    "sailthru.date",
    "parsely-pub-date",
)
_URL_KEYS = ("og:url",)
_AUTHOR_KEYS = ("author", "article:author", "dc.creator", "parsely-author", "sailthru.author", "byl")
_SKIP_TAGS = {"script", "style", "nav", "header", "footer", "aside", "form", "noscript", "template", "svg"}
_BLOCK_TAGS = {"p", "h1", "h2", "h3", "h4", "li", "blockquote", "pre", "td"}


@dataclass
class Page:
    text: str
    title: str | None = None
    source: str | None = None
    url: str | None = None
    published_at: str | None = None
    author: str | None = None


class _MetaParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.canonical: str | None = None
        self.title_parts: list[str] = []
        self.blocks: list[str] = []
        self._current: list[str] | None = None
        self._skip_depth = 0
        self._in_title = False
        self._has_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "meta":
            key = (a.get("property") or a.get("name") or a.get("itemprop") or "").lower()
            if key and a.get("content") and key not in self.meta:
                self.meta[key] = a["content"].strip()
        elif tag == "link" and "canonical" in a.get("rel", "").lower().split():
            self.canonical = self.canonical or a.get("href")
        elif tag == "time" and a.get("datetime") and a.get("itemprop", "").lower() == "datepublished":
            self.meta.setdefault("datepublished", a["datetime"])
        elif tag == "title":
            self._in_title = True
        elif tag == "body":
            self._has_body = True
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS and not self._skip_depth:
            self._current = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _SKIP_TAGS and self._skip_depth:
            self._skip_depth -= 1
        elif tag in _BLOCK_TAGS and self._current is not None:
            text = " ".join("".join(self._current).split())
            if text:
                self.blocks.append(text)
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif self._current is not None and not self._skip_depth:
            self._current.append(data)


def _first(meta: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for k in keys:
        if meta.get(k):
            return meta[k]
    return None


def extract(html: str) -> Page:
    """Main text plus explicit metadata of an HTML page."""
    parser = _MetaParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        logging.getLogger(__name__).debug("HTML parser stopped early", exc_info=True)
    meta = parser.meta
    title = _first(meta, _TITLE_KEYS) or " ".join("".join(parser.title_parts).split()) or None
    text = _main_text(html) or "\n".join(parser.blocks)
    return Page(
        text=text,
        title=title,
        source=_first(meta, _SOURCE_KEYS),
        url=parser.canonical or _first(meta, _URL_KEYS),
        published_at=_first(meta, _DATE_KEYS),
        author=_author(meta),
    )


def _author(meta: dict[str, str]) -> str | None:
    """A byline from meta tags; article:author is often a profile URL, which is no name."""
    for k in _AUTHOR_KEYS:
        value = meta.get(k, "")
        if value and not value.startswith(("http://", "https://")):
            return value[3:].strip() if value.lower().startswith("by ") else value
    return None


def _main_text(html: str) -> str:
    try:
        import trafilatura

        text = trafilatura.extract(
            html, include_comments=False, include_tables=False, favor_precision=True, deduplicate=True
        )
    except Exception:
        logging.getLogger(__name__).debug("trafilatura failed", exc_info=True)
        return ""
    return text or ""

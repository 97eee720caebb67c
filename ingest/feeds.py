"""RSS and Atom feeds: each entry's article page is fetched and extracted like any web page.

The feed tells us what the page may not: the entry's title, its published date (preferred
over its updated date), its author and the outlet's name. `FeedPoller` remembers what each
feed said last time, so a watch only fetches entries that are new or changed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from .errors import NewsQAError
from .loaders import LoadError, decode, normalise_date
from .models import Article, Skip
from .web import (
    MAX_PAGE_BYTES,
    TIMEOUT,
    Fetched,
    FetchError,
    Hints,
    article_from_page,
    fetch,
    is_html,
    is_url,
    load_url,
)

FEED_ACCEPT = "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,text/html;q=0.5,*/*;q=0.3"
MAX_FEED_BYTES = 10 * 1024 * 1024
FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml", "text/xml", "application/feed+xml"}


class FeedError(NewsQAError, ValueError):
    """A document that is not a usable feed; the message is the reason."""


@dataclass
class Entry:
    """One feed entry: where its article lives and what the feed says about it."""

    link: str
    key: str  # stable identity within the feed: the entry id (guid), else the link
    hints: Hints
    fingerprint: str  # changes when the feed changes what it says about the entry


@dataclass
class Feed:
    url: str
    title: str | None
    entries: list[Entry] = field(default_factory=list)


def looks_like_feed(fetched: Fetched) -> bool:
    """A feed by content type, or by its root element when the server says only XML/text."""
    if fetched.content_type in {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+xml"}:
        return True
    if fetched.content_type and fetched.content_type not in FEED_TYPES | {"text/plain", "application/octet-stream"}:
        return False
    head = fetched.body[:2048].lstrip().lower()
    return any(tag in head for tag in (b"<rss", b"<feed", b"<rdf:rdf"))


def _iso(struct: object) -> str | None:
    """feedparser's parsed date (a UTC struct_time) as an ISO date."""
    if not struct:
        return None
    try:
        return time.strftime("%Y-%m-%d", struct)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def parse_feed(data: bytes, url: str) -> Feed:
    """Parse RSS or Atom bytes (feedparser tolerates the malformed feeds found in the wild).

    Raises:
        FeedError: nothing feed-like in the document.
    """
    import feedparser

    parsed = feedparser.parse(data, response_headers={"content-location": url})
    version = getattr(parsed, "version", "")
    if not version and not parsed.entries:
        reason = getattr(parsed, "bozo_exception", None)
        raise FeedError(f"not an RSS or Atom feed{f' ({reason})' if reason else ''}")
    title = (parsed.feed.get("title") or "").strip() or None
    feed = Feed(url=url, title=title)
    for e in parsed.entries:
        link = e.get("link") or ""
        if not is_url(link):
            links = [x.get("href") for x in e.get("links", []) if is_url(x.get("href") or "")]
            link = links[0] if links else ""
        if not link:
            continue
        published = _iso(e.get("published_parsed")) or normalise_date(e.get("published"))
        # dict.get: feedparser's own get() passes the published date off as the updated one.
        updated = _iso(dict.get(e, "updated_parsed")) or normalise_date(dict.get(e, "updated"))
        hints = Hints(
            title=(e.get("title") or "").strip() or None,
            source=title,
            published_at=published,
            updated_at=updated,
            author=(e.get("author") or "").strip() or None,
        )
        raw = "\x1f".join(
            str(x or "") for x in (link, e.get("title"), e.get("published"), dict.get(e, "updated"), e.get("summary"), _content(e))
        )
        feed.entries.append(
            Entry(link=link, key=e.get("id") or link, hints=hints, fingerprint=hashlib.sha256(raw.encode()).hexdigest())
        )
    return feed


def _content(entry: object) -> str:
    try:
        return "".join(c.get("value", "") for c in entry.get("content", []))  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        return ""


def read_url_list(path: Path) -> list[str] | None:
    """The URLs of a feed list (one URL per line, '#' comments; or OPML), else None.

    A text file is a list only if every non-blank, non-comment line is one http(s) URL, so an
    article that happens to mention a link is still read as an article.
    """
    suffix = path.suffix.lower()
    if suffix not in {".txt", ".opml", ".urls", ".list"} or not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_FEED_BYTES:
            return None
        text = decode(path.read_bytes())
    except (OSError, LoadError):
        return None
    if suffix == ".opml":
        try:
            root = ElementTree.fromstring(text.encode("utf-8"))
        except ElementTree.ParseError:
            return None
        urls = [o.get("xmlUrl") or "" for o in root.iter("outline")]
        return [u.strip() for u in urls if is_url(u.strip())] or None
    # Only whole-line comments: "#" inside a URL is a fragment.
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines or not all(is_url(line) and len(line.split()) == 1 for line in lines):
        return None
    return list(dict.fromkeys(lines))


def load_source(url: str, *, timeout: float = TIMEOUT) -> Iterator[Article | Skip]:
    """Articles from a URL: every entry of a feed, or the one article of a page."""
    try:
        fetched = fetch(url, timeout=timeout, max_bytes=MAX_FEED_BYTES, accept=FEED_ACCEPT)
    except FetchError as e:
        yield Skip(url, str(e))
        return
    if looks_like_feed(fetched) and not is_html(fetched):
        try:
            feed = parse_feed(fetched.body, fetched.final_url)
        except FeedError as e:
            yield Skip(url, str(e))
            return
        if not feed.entries:
            yield Skip(url, "the feed has no entries with links")
        for entry in feed.entries:
            yield load_entry(entry, timeout=timeout)
        return
    if len(fetched.body) > MAX_PAGE_BYTES:  # fetched with the larger feed allowance
        yield Skip(url, f"too big ({len(fetched.body) / 1e6:.1f} MB; the limit for a page is {MAX_PAGE_BYTES / 1e6:.0f} MB)")
        return
    try:
        yield article_from_page(fetched)
    except LoadError as e:
        yield Skip(url, str(e))


def load_entry(entry: Entry, *, timeout: float = TIMEOUT) -> Article | Skip:
    """The article a feed entry links to, with the feed's metadata where the page is silent."""
    return load_url(entry.link, entry.hints, timeout=timeout)


@dataclass
class _FeedState:
    etag: str | None = None
    modified: str | None = None
    seen: dict[str, str] = field(default_factory=dict)  # entry key -> fingerprint


class FeedPoller:
    """Polls feeds; each poll yields the articles of new or changed entries only.

    The feed is fetched conditionally (ETag / Last-Modified), and an entry whose link,
    title, dates and summary are as they were is not fetched again. The index's own
    content hash catches the rest, so a first poll after a restart adds nothing new either.
    """

    def __init__(self, feeds: list[str], *, timeout: float = TIMEOUT) -> None:
        self.feeds = list(dict.fromkeys(feeds))
        self.timeout = timeout
        self._state: dict[str, _FeedState] = {u: _FeedState() for u in self.feeds}

    def poll(self) -> Iterator[Article | Skip]:
        """Fetch every feed once; yield articles of entries not seen unchanged before (and skips)."""
        for url in self.feeds:
            state = self._state[url]
            headers = {}
            if state.etag:
                headers["If-None-Match"] = state.etag
            if state.modified:
                headers["If-Modified-Since"] = state.modified
            try:
                fetched = fetch(url, timeout=self.timeout, max_bytes=MAX_FEED_BYTES, accept=FEED_ACCEPT, headers=headers)
            except FetchError as e:
                yield Skip(url, str(e))
                continue
            if fetched.status == 304:
                continue
            try:
                if is_html(fetched) or not looks_like_feed(fetched):
                    raise FeedError(f"not an RSS or Atom feed ({fetched.content_type or 'unknown type'})")
                feed = parse_feed(fetched.body, fetched.final_url)
            except FeedError as e:
                yield Skip(url, str(e))
                continue
            headers_lower = {k.lower(): v for k, v in fetched.headers.items()}
            state.etag = headers_lower.get("etag")
            state.modified = headers_lower.get("last-modified")
            for entry in feed.entries:
                if state.seen.get(entry.key) == entry.fingerprint:
                    continue
                item = load_entry(entry, timeout=self.timeout)
                # A failed fetch is retried next poll; a read entry is remembered.
                if isinstance(item, Article):
                    state.seen[entry.key] = entry.fingerprint
                yield item


__all__ = ["Entry", "Feed", "FeedError", "FeedPoller", "load_entry", "load_source", "parse_feed", "read_url_list"]

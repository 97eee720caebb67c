"""Articles from web pages by URL: a careful fetch, then the same extraction as saved .html files.

Every failure (no such host, 404, not HTML, too big, too slow) becomes a Skip whose reason
names the URL's problem; nothing here touches the index. Only the standard library fetches:
no extra dependency, and timeouts and size limits stay under our control.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import Message
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

from .errors import NewsQAError
from .loaders import LoadError, decode, make_article
from .models import Article, Skip

try:
    _VERSION = version("newsqa")
except PackageNotFoundError:  # running from a checkout without installing
    _VERSION = "dev"

# Sites see who is fetching and can tell us apart from a browser.
USER_AGENT = f"newsqa/{_VERSION} (news question answering; article fetcher; +python-urllib)"
TIMEOUT = 20.0  # seconds per connection attempt and read, and for the whole body
MAX_PAGE_BYTES = 5 * 1024 * 1024  # the same limit as an article file
HTML_TYPES = ("text/html", "application/xhtml+xml")


class FetchError(NewsQAError, RuntimeError):
    """A URL that could not be fetched; the message says why in words a person can act on."""


@dataclass
class Fetched:
    """A fetched response: the URL after redirects, its content type and the body."""

    url: str
    final_url: str
    status: int
    content_type: str
    charset: str | None
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hints:
    """What a feed entry says about its article; used where the page itself is silent."""

    title: str | None = None
    source: str | None = None
    published_at: str | None = None
    updated_at: str | None = None
    author: str | None = None


def is_url(value: object) -> bool:
    """True for an http(s) URL (what `newsqa ingest` fetches rather than reads from disk)."""
    s = str(value)
    return bool(re.match(r"(?i)https?://[^\s/]+", s))


def fetch(
    url: str,
    *,
    timeout: float = TIMEOUT,
    max_bytes: int = MAX_PAGE_BYTES,
    accept: str = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
    headers: dict[str, str] | None = None,
) -> Fetched:
    """GET `url` within `timeout` seconds and `max_bytes` bytes.

    Args:
        url: an http or https URL.
        timeout: seconds allowed for connecting, for each read, and for the whole body.
        max_bytes: larger bodies are refused (by Content-Length, or while reading).
        accept: the Accept header.
        headers: extra request headers (e.g. If-None-Match for a feed poll).
    Returns:
        The Fetched response (status 304 comes back with an empty body).
    Raises:
        FetchError: the reason, e.g. "cannot resolve host", "HTTP 404 Not Found", "timed out".
    """
    if not is_url(url):
        raise FetchError("not an http(s) URL")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": accept, **(headers or {})})
    deadline = time.monotonic() + timeout
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 304:
            return Fetched(url, e.url or url, 304, "", None, b"", dict(e.headers or {}))
        raise FetchError(f"HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise FetchError(_network_reason(e.reason, timeout)) from e
    except TimeoutError as e:
        raise FetchError(f"timed out after {timeout:g} s") from e
    except (OSError, ValueError) as e:  # bad port, connection reset, malformed URL
        raise FetchError(f"cannot fetch: {e}") from e
    with response:
        info: Message = response.headers
        length = info.get("Content-Length")
        if length and length.isdigit() and int(length) > max_bytes:
            raise FetchError(f"too big ({int(length) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB)")
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() > deadline:
                    raise FetchError(f"timed out after {timeout:g} s (the page came too slowly)")
                block = response.read(64 * 1024)
                if not block:
                    break
                size += len(block)
                if size > max_bytes:
                    raise FetchError(f"too big (over {max_bytes / 1e6:.0f} MB)")
                parts.append(block)
        except TimeoutError as e:
            raise FetchError(f"timed out after {timeout:g} s while reading") from e
        except OSError as e:
            raise FetchError(f"connection failed while reading: {e}") from e
        return Fetched(
            url=url,
            final_url=response.geturl() or url,
            status=response.status,
            content_type=info.get_content_type() if info.get("Content-Type") else "",
            charset=info.get_content_charset(),
            body=b"".join(parts),
            headers={k: v for k, v in info.items()},
        )


def _network_reason(reason: object, timeout: float) -> str:
    if isinstance(reason, socket.gaierror):
        return "cannot resolve host (DNS lookup failed; check the address or your network)"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"timed out after {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the server up?)"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error: {reason}"
    return f"cannot connect: {reason}"


def text_of(fetched: Fetched) -> str:
    """The body as text: the declared charset when it decodes, else UTF-8 / Windows-1252."""
    if fetched.charset:
        try:
            return fetched.body.decode(fetched.charset).replace("\r\n", "\n")
        except (LookupError, UnicodeDecodeError):
            pass
    return decode(fetched.body)


def is_html(fetched: Fetched) -> bool:
    """HTML by content type, or by its first bytes when the server sent no type."""
    if fetched.content_type:
        return fetched.content_type in HTML_TYPES
    head = fetched.body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _site(url: str | None) -> str:
    host = (urlsplit(url or "").hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def article_from_page(fetched: Fetched, hints: Hints | None = None) -> Article:
    """Extract the article of a fetched HTML page (the main text, without navigation).

    The page's canonical URL is the article's id only when it is on the same site: a
    syndicated copy often names the original outlet's page as canonical, and taking that
    would make the copy overwrite the original.

    Raises:
        LoadError: not HTML, or no article text on the page.
    """
    from .html import extract

    hints = hints or Hints()
    if not is_html(fetched):
        kind = fetched.content_type or "unknown type"
        hint = " (PDF is not read: save the text, or ingest the page that links it)" if "pdf" in kind else ""
        raise LoadError(f"not an HTML page ({kind}){hint}")
    page = extract(text_of(fetched))
    if not page.text.strip():
        raise LoadError("no article text found on the page")
    url = page.url if page.url and _site(page.url) == _site(fetched.final_url) else fetched.final_url
    return make_article(
        text=page.text.strip(),
        # A feed's entry title is clean; a page <title> often carries " | Outlet".
        title=hints.title or page.title,
        # og:site_name names the outlet; a feed's title ("World news | X") is the fallback.
        source=page.source or hints.source,
        url=url,
        # Published, never updated, when both are known: the feed's, then the page's.
        published_at=hints.published_at or page.published_at or hints.updated_at,
        path=fetched.url,
        author=page.author or hints.author,
    )


def load_url(url: str, hints: Hints | None = None, *, timeout: float = TIMEOUT, max_bytes: int = MAX_PAGE_BYTES) -> Article | Skip:
    """The article at `url`, or a Skip saying why not (never raises for a bad URL or page)."""
    try:
        return article_from_page(fetch(url, timeout=timeout, max_bytes=max_bytes), hints)
    except (FetchError, LoadError) as e:
        return Skip(url, str(e))


__all__ = ["USER_AGENT", "FetchError", "Fetched", "Hints", "article_from_page", "fetch", "is_html", "is_url", "load_url"]

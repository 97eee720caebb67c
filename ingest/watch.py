"""`newsqa watch`: poll feeds and ingest what is new or changed, until stopped."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import UsageError
from .feeds import FeedPoller, read_url_list
from .models import IngestReport
from .pipeline import ingest_items
from .store import Store
from .web import TIMEOUT, is_url


def feed_urls(sources: Iterable[str | os.PathLike]) -> list[str]:
    """Feed URLs from URLs and feed-list files (one URL a line, or OPML).

    Raises:
        UsageError: an argument that is neither (the message says what is accepted).
    """
    urls: list[str] = []
    for s in sources:
        if is_url(s):
            urls.append(str(s))
            continue
        listed = read_url_list(Path(s))
        if listed is None:
            raise UsageError(
                f"{s} is not a feed URL or a feed list: give http(s) URLs, or a .txt/.opml file with one feed URL a line"
            )
        urls.extend(listed)
    return list(dict.fromkeys(urls))


def watch(
    feeds: list[str],
    store: Store,
    *,
    interval: float = 900.0,
    max_polls: int | None = None,
    timeout: float = TIMEOUT,
    on_report: Callable[[int, IngestReport], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[IngestReport]:
    """Poll `feeds` every `interval` seconds, ingesting only new or changed entries.

    Args:
        feeds: feed URLs.
        store: the index to write to.
        interval: seconds between the start of one poll and the next.
        max_polls: stop after this many polls (None: until interrupted).
        timeout: seconds allowed per request.
        on_report: called with (poll number from 1, report) after each poll.
        sleep: how to wait (tests pass a no-op).
    Returns:
        The report of every poll.
    """
    poller = FeedPoller(feeds, timeout=timeout)
    reports: list[IngestReport] = []
    while True:
        started = time.monotonic()
        report = ingest_items(poller.poll(), store)
        reports.append(report)
        if on_report is not None:
            on_report(len(reports), report)
        if max_polls is not None and len(reports) >= max_polls:
            return reports
        sleep(max(0.0, interval - (time.monotonic() - started)))


__all__ = ["feed_urls", "watch"]

"""Feeds, web pages, CSV exports, syndicated copies and name variants, served from 127.0.0.1.

A real HTTP server in a thread plays two outlets: "127.0.0.1" (The Example Daily, an Atom
feed) and "localhost" (The Other Outlet, an RSS feed that republishes one story). Everything
else is real: fetching, trafilatura, feedparser, the embedding model and Chroma.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.feeds import parse_feed, read_url_list
from ingest.loaders import load_file, parse_column_map
from ingest.syndication import THRESHOLD, read_copies, resemblance, shingles
from ingest.terms import terms
from ingest.variants import Variants, VariantsError, VariantSource, expand_terms, parse_variants, variant_files
from ingest.watch import watch
from ingest.web import USER_AGENT, load_url

from .conftest import SEED_FILE

SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")
SEED_BODY = "\n".join(SEED_TEXT.splitlines()[:-2])  # without the site's comment prompt

PALMYRA = (
    "Syrian government troops backed by Russian air strikes pushed into the desert east of Palmyra on Tuesday, "
    "state media said. The army said it had taken a string of hills overlooking the road to the town of Sukhnah. "
    "Engineers were clearing mines from the highway, which links the ancient city to the oil fields further east. "
    "A monitoring group said at least a dozen soldiers were killed in the fighting over the weekend."
)
RAQQA = (
    "The Syrian Democratic Forces said they had cleared another district of Raqqa after weeks of street fighting. "
    "A spokesman for the alliance said its fighters now held most of the old city, with the remaining militants "
    "pinned near the central stadium. Aid groups warned that thousands of civilians were still trapped inside."
)
RAQQA_V2 = RAQQA + " On Friday the alliance announced it had taken the stadium, ending the battle for the city."

NAV = "".join(f'<li><a href="/section/{i}">Section {i} headlines</a></li>' for i in range(60))
BOILERPLATE = [
    "Subscribe to our newsletter for the best deals",
    "We use cookies to improve your experience",
    "Copyright 2017 The Example Daily Media Group",
    "Most read stories this week",
    "Trending: celebrity gossip roundup",
]


def page(title: str, body: str, *, site: str | None = None, published: str | None = None, canonical: str | None = None,
         author: str | None = None, heavy: bool = False) -> bytes:
    """An article page; `heavy` wraps it in navigation, sidebars, cookie banners and footers."""
    meta = [f'<meta property="og:title" content="{escape(title)}">']
    if site:
        meta.append(f'<meta property="og:site_name" content="{escape(site)}">')
    if published:
        meta.append(f'<meta property="article:published_time" content="{published}">')
    if author:
        meta.append(f'<meta name="author" content="{escape(author)}">')
    if canonical:
        meta.append(f'<link rel="canonical" href="{canonical}">')
    paras = "".join(f"<p>{escape(p)}</p>" for p in body.split("\n") if p.strip())
    article = f"<article><h1>{escape(title)}</h1>{paras}</article>"
    if heavy:
        junk = "".join(f"<div class='promo'><p>{escape(b)}</p></div>" for b in BOILERPLATE)
        article = (
            f"<header><nav><ul>{NAV}</ul></nav><div class='cookie'><p>{escape(BOILERPLATE[1])}</p></div></header>"
            f"<main>{article}<aside><h3>{escape(BOILERPLATE[3])}</h3><ul>{NAV}</ul><p>{escape(BOILERPLATE[4])}</p></aside></main>"
            f"<footer>{junk}<ul>{NAV}</ul></footer>"
        )
    html = f"<!doctype html><html><head><title>{escape(title)} | Example</title>{''.join(meta)}</head><body>{article}</body></html>"
    return html.encode("utf-8")


def atom(title: str, base: str, entries: list[dict]) -> bytes:
    items = "".join(
        f"<entry><id>{e['id']}</id><title>{escape(e['title'])}</title><link href=\"{base}{e['path']}\"/>"
        f"<published>{e['published']}</published><updated>{e['updated']}</updated>"
        f"<author><name>{escape(e.get('author', 'Staff'))}</name></author><summary>{escape(e['title'])}</summary></entry>"
        for e in entries
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>{escape(title)}</title>'
            f"<id>{base}/feed</id><updated>2017-09-20T00:00:00Z</updated>{items}</feed>").encode()


def rss(title: str, base: str, entries: list[dict]) -> bytes:
    items = "".join(
        f"<item><title>{escape(e['title'])}</title><link>{base}{e['path']}</link><guid>{base}{e['path']}</guid>"
        f"<pubDate>{e['pubdate']}</pubDate></item>"
        for e in entries
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{escape(title)}</title>{items}</channel></rss>'.encode()


class Site:
    """Routes of the local server: path -> (status, content type, body); tests change them."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes]] = {}
        self.agents: list[str] = []
        self.hits: dict[str, int] = {}
        self.port = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    state = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.agents.append(self.headers.get("User-Agent", ""))
            state.hits[self.path] = state.hits.get(self.path, 0) + 1
            if self.path == "/slow":
                time.sleep(2.0)
            status, ctype, body = state.routes.get(self.path, (404, "text/html", b"<h1>Not found</h1>"))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def outlets(site: Site) -> Site:
    """Outlet A (Atom, 127.0.0.1) with three stories; outlet B (RSS, localhost) republishing one."""
    a = site.url("")
    b = site.url("", host="localhost")
    html = "text/html; charset=utf-8"
    site.routes.clear()
    site.routes.update({
        "/a/deir-ezzor": (200, html, page("Russia fires cruise missiles at ISIS in Deir Ezzor", SEED_BODY, heavy=True,
                                         canonical=f"{a}/a/deir-ezzor?utm_source=feed", author="By Jane Doe")),
        "/a/palmyra": (200, html, page("Army advances east of Palmyra", PALMYRA, site="The Example Daily",
                                      published="2017-09-10T08:00:00Z")),
        "/a/raqqa": (200, html, page("SDF clears another Raqqa district", RAQQA)),
        "/a/feed.xml": (200, "application/atom+xml", atom("The Example Daily", a, [
            {"id": "tag:a,1", "title": "Russia fires cruise missiles at ISIS in Deir Ezzor", "path": "/a/deir-ezzor",
             "published": "2017-09-15T10:00:00Z", "updated": "2017-09-18T09:00:00Z", "author": "Jane Doe"},
            # The page says 2017-09-10 too; the feed's published date wins over its updated date.
            {"id": "tag:a,2", "title": "Army advances east of Palmyra", "path": "/a/palmyra",
             "published": "2017-09-10T08:00:00Z", "updated": "2017-09-19T08:00:00Z"},
            {"id": "tag:a,3", "title": "SDF clears another Raqqa district", "path": "/a/raqqa",
             "published": "2017-09-12T08:00:00Z", "updated": "2017-09-12T08:00:00Z"},
        ])),
        # The copy names the original as canonical (as syndicated pages do) and adds its own furniture.
        "/b/wire/russia-missiles": (200, html, page(
            "Russian subs strike Islamic State near Deir ez-Zor",
            "By Wire Staff\n" + SEED_BODY + "\nThis story was distributed by a news agency.",
            site="The Other Outlet", canonical=f"{a}/a/deir-ezzor")),
        "/b/rss": (200, "application/rss+xml", rss("The Other Outlet", b, [
            {"title": "Russian subs strike Islamic State near Deir ez-Zor", "path": "/b/wire/russia-missiles",
             "pubdate": "Sat, 16 Sep 2017 07:00:00 GMT"},
        ])),
    })
    return site


def test_feed_ingests_entries_with_dates_outlets_and_canonical_urls(outlets: Site, fresh) -> None:
    report = fresh.ingest(outlets.url("/a/feed.xml"))
    assert (report.added, report.skipped) == (3, [])
    metas = fresh.store.all_articles()
    by_title = {m["title"]: (aid, m) for aid, m in metas.items()}
    aid, m = by_title["Russia fires cruise missiles at ISIS in Deir Ezzor"]
    assert aid == outlets.url("/a/deir-ezzor")  # the canonical URL without its tracking parameter
    assert (m["published_at"], m["source"], m["author"]) == ("2017-09-15", "The Example Daily", "Jane Doe")
    assert by_title["Army advances east of Palmyra"][1]["published_at"] == "2017-09-10"  # published, not updated
    assert by_title["SDF clears another Raqqa district"][1]["published_at"] == "2017-09-12"
    assert {m["source"] for m in metas.values()} == {"The Example Daily"}
    assert all(a.startswith("newsqa/") for a in outlets.agents[-4:])
    assert "newsqa" in USER_AGENT

    again = fresh.ingest(outlets.url("/a/feed.xml"))
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)


def test_boilerplate_page_yields_the_article_body_only(outlets: Site) -> None:
    article = load_url(outlets.url("/a/deir-ezzor"))
    assert not hasattr(article, "reason"), article
    assert "The militants control less than half the city" in article.text
    assert "Al-Qaeda, which has benefited from international efforts against ISIS" in article.text
    for junk in [*BOILERPLATE, "Section 12 headlines"]:
        assert junk not in article.text
    assert len(article.text) < len(SEED_BODY) * 1.1


def test_failed_urls_are_skipped_with_reasons_and_never_touch_the_index(outlets: Site, fresh, tmp_path: Path) -> None:
    outlets.routes["/report.pdf"] = (200, "application/pdf", b"%PDF-1.4 not an article")
    outlets.routes["/huge"] = (200, "text/html", b"<html><body>" + b"<p>word</p>" * 600_000 + b"</body></html>")
    fresh.ingest(outlets.url("/a/raqqa"))
    report = fresh.ingest(
        outlets.url("/missing"), outlets.url("/report.pdf"), outlets.url("/huge"), "http://nonexistent.invalid/story",
        outlets.url("/a/palmyra"),
    )
    reasons = {s.path: s.reason for s in report.skipped}
    assert "HTTP 404" in reasons[outlets.url("/missing")]
    assert "not an HTML page (application/pdf)" in reasons[outlets.url("/report.pdf")]
    assert "too big" in reasons[outlets.url("/huge")]
    assert "cannot resolve host" in reasons["http://nonexistent.invalid/story"]
    assert (report.added, report.articles) == (1, 2)
    slow = load_url(outlets.url("/slow"), timeout=0.5)
    assert "timed out" in slow.reason


def test_watch_adds_only_new_or_changed_entries(outlets: Site, fresh) -> None:
    feed = outlets.url("/a/feed.xml")
    calls = []

    def between_polls(_seconds: float) -> None:
        calls.append(_seconds)
        if len(calls) == 2:  # the outlet updates its Raqqa story, and the feed says so
            outlets.routes["/a/raqqa"] = (200, "text/html", page("SDF clears another Raqqa district", RAQQA_V2))
            body = outlets.routes["/a/feed.xml"][2].replace(
                b"<updated>2017-09-12T08:00:00Z</updated>", b"<updated>2017-09-22T08:00:00Z</updated>")
            outlets.routes["/a/feed.xml"] = (200, "application/atom+xml", body)

    hits_before = outlets.hits.get("/a/palmyra", 0)
    reports = watch([feed], fresh.store, interval=0, max_polls=3, sleep=between_polls)
    counts = [(r.added, r.updated, r.unchanged) for r in reports]
    assert counts == [(3, 0, 0), (0, 0, 0), (0, 1, 0)]
    assert outlets.hits["/a/palmyra"] - hits_before == 1  # unchanged entries are not fetched again
    raqqa = fresh.store.article_text(outlets.url("/a/raqqa"))
    assert "ending the battle for the city" in raqqa
    assert reports[-1].articles == 3


def test_syndicated_copy_is_stored_once_and_cited_as_one_source(outlets: Site, fresh) -> None:
    fresh.ingest(outlets.url("/a/feed.xml"))
    report = fresh.ingest(outlets.url("/b/rss", host="localhost"))
    assert report.added == 0 and report.articles == 3
    assert "syndicated copy of" in report.skipped[0].reason
    original = fresh.store.article_meta([outlets.url("/a/deir-ezzor")])[outlets.url("/a/deir-ezzor")]
    copies = read_copies(original)
    assert [(c.source, c.url) for c in copies] == [("The Other Outlet", outlets.url("/b/wire/russia-missiles", host="localhost"))]
    assert fresh.ingest(outlets.url("/b/rss", host="localhost")).articles == 3
    assert len(read_copies(fresh.store.article_meta([outlets.url("/a/deir-ezzor")])[outlets.url("/a/deir-ezzor")])) == 1

    answer = fresh.ask("Who controls Deir Ezzor?")
    assert not answer.abstained
    assert {c.article_id for c in answer.citations} == {outlets.url("/a/deir-ezzor")}
    assert all(c.also_published_by == ["The Other Outlet"] for c in answer.citations)
    assert "also published by The Other Outlet" in answer.render()


def test_near_copies_collapse_and_other_stories_on_the_topic_do_not() -> None:
    edited = "By Wire Staff\n" + SEED_BODY.replace("less than half the city", "under half of the city")
    assert resemblance(shingles(SEED_BODY), shingles(edited)) >= THRESHOLD
    # Another report that quotes the same two sentences is another story.
    quoting = PALMYRA + " " + " ".join(SEED_BODY.splitlines()[5:7])
    assert resemblance(shingles(SEED_BODY), shingles(quoting)) < 0.2
    assert resemblance(shingles(PALMYRA), shingles(RAQQA)) < 0.05


def test_deir_ez_zor_finds_the_seed_article(seeded) -> None:
    seed_id = next(iter(seeded.store.all_articles()))
    seeded.keyword.sync(seeded.store)
    hits = seeded.keyword.search("Deir ez-Zor", 5)
    assert hits and seeded.keyword.get(hits[0][0])[1]["article_id"] == seed_id
    assert seeded.keyword.search("Dayr az-Zawr", 5)
    answer = seeded.ask("Who controls Deir ez-Zor?")
    assert not answer.abstained
    assert "less than half the city" in answer.text
    assert answer.citations[0].article_id == seed_id
    # A spelling the article never uses still finds and answers from it.
    siege = seeded.ask("How long was the siege of Dayr az-Zawr?")
    assert not siege.abstained and "three-year" in siege.text


def test_variants_are_data_users_extend(tmp_path: Path) -> None:
    assert {"isil", "isi", "islamic", "state"} <= set(expand_terms(terms("ISIL")))
    assert {"syrian", "democratic"} <= set(expand_terms(terms("SDF")))
    assert "sdf" in expand_terms(terms("Syrian Democratic Forces"))
    assert expand_terms(terms("the weather in Paris")) == terms("the weather in Paris")
    own = tmp_path / "mine.txt"
    own.write_text("# our newsroom's spellings\nAbu Kamal Crossing | Qaim crossing\n", encoding="utf-8")
    source = VariantSource(variant_files(user_file=own))
    assert "qaim" in expand_terms(terms("Abu Kamal Crossing"), source)
    assert "qaim" not in expand_terms(terms("Abu Kamal Crossing"))  # the shipped list alone
    own.write_text("only one spelling\n", encoding="utf-8")  # re-read when the file changes
    with pytest.raises(VariantsError, match="line 1"):
        expand_terms(["x"], source)
    v = parse_variants("IS | Islamic State\n")  # an all-stopword spelling cannot be searched for
    assert v.groups == [] and isinstance(v, Variants)


def test_csv_export_with_column_mapping(tmp_path: Path, fresh) -> None:
    export = tmp_path / "export.csv"
    export.write_text(
        "headline,body,date,outlet,link\n"
        f'"Army advances east of Palmyra","{PALMYRA}",2017-09-10,Example Wire,https://example.org/palmyra\n'
        f'"Raqqa","{RAQQA}",12/09/2017,Example Wire,\n'
        '"Empty",,2017-09-11,Example Wire,\n',
        encoding="utf-8",
    )
    columns = parse_column_map("text=body,title=headline,published_at=date,source=outlet,url=link")
    items = list(load_file(export, columns))
    assert [getattr(i, "title", None) for i in items[:2]] == ["Army advances east of Palmyra", "Raqqa"]
    assert items[0].published_at == "2017-09-10" and items[0].id == "https://example.org/palmyra"
    assert items[1].published_at is None  # an ambiguous date is left unknown, never guessed
    assert "no 'text'" in items[2].reason
    report = fresh.ingest(export, columns=columns)
    assert (report.added, len(report.skipped)) == (2, 1)
    unmapped = fresh.ingest(export)
    assert "map one with --map text=COLUMN" in unmapped.skipped[0].reason
    with pytest.raises(ValueError, match="unknown article field"):
        parse_column_map("body=text")


def test_feed_lists_and_parsing(tmp_path: Path) -> None:
    listing = tmp_path / "feeds.txt"
    listing.write_text("# morning feeds\nhttps://a.example/feed.xml\n\nhttps://b.example/rss#top\n", encoding="utf-8")
    assert read_url_list(listing) == ["https://a.example/feed.xml", "https://b.example/rss#top"]
    article = tmp_path / "note.txt"
    article.write_text("Read more at https://a.example/story\nThe city fell on Tuesday.\n", encoding="utf-8")
    assert read_url_list(article) is None
    opml = tmp_path / "subs.opml"
    opml.write_text('<opml><body><outline text="A" xmlUrl="https://a.example/feed.xml"/></body></opml>', encoding="utf-8")
    assert read_url_list(opml) == ["https://a.example/feed.xml"]
    feed = parse_feed(rss("Wire", "https://w.example", [{"title": "T", "path": "/t", "pubdate": "Sat, 16 Sep 2017 07:00:00 GMT"}]), "u")
    assert (feed.title, feed.entries[0].link, feed.entries[0].hints.published_at) == ("Wire", "https://w.example/t", "2017-09-16")


def test_cli_ingests_a_feed_and_watches_once(outlets: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cli import main

    monkeypatch.setenv("NEWSQA_DATA_DIR", str(tmp_path / "cli"))
    listing = tmp_path / "feeds.txt"
    listing.write_text(outlets.url("/a/feed.xml") + "\n", encoding="utf-8")
    runner = CliRunner()
    first = runner.invoke(main, ["ingest", str(listing), "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output.strip().splitlines()[-1])["added"] == 3
    polled = runner.invoke(main, ["watch", outlets.url("/a/feed.xml"), "--once", "--json"])
    assert polled.exit_code == 0, polled.output
    line = json.loads(polled.output.strip().splitlines()[-1])
    assert (line["poll"], line["added"], line["unchanged"], line["articles"]) == (1, 0, 3, 3)
    bad = runner.invoke(main, ["watch", str(tmp_path / "nothing.txt"), "--once"])
    assert bad.exit_code != 0 and "not a feed URL or a feed list" in bad.output

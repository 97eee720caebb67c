import json

from ingest.loaders import canonical_url, load, normalise_date
from ingest.models import Article, Skip


def _load(*paths):
    items = list(load(list(paths)))
    return [i for i in items if isinstance(i, Article)], [i for i in items if isinstance(i, Skip)]


def test_text_file_has_unknown_metadata_and_a_content_hash_id(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("Some news. More news.\n", encoding="utf-8")
    (a,), skips = _load(f)
    assert not skips
    assert a.title is None and a.source is None and a.published_at is None and a.url is None
    assert a.id.startswith("sha256:") and a.text == "Some news. More news."


def test_markdown_front_matter_and_heading(tmp_path):
    f = tmp_path / "a.md"
    f.write_text("---\nsource: The Paper\ndate: 2024-03-05T10:00:00Z\nurl: https://ex.com/a?utm_source=x#top\n---\n# Big story\nBody text.\n")
    (a,), _ = _load(f)
    assert (a.title, a.source, a.published_at) == ("Big story", "The Paper", "2024-03-05")
    assert a.url == a.id == "https://ex.com/a"


def test_html_main_text_and_meta(tmp_path):
    nav = "".join(f"<li><a href='/s{i}'>Section {i}</a></li>" for i in range(30))
    body = " ".join(f"Paragraph {i} says the council approved the budget after a long debate." for i in range(8))
    page = f"""<html><head><title>Site | Budget</title>
    <meta property="og:title" content="Council approves budget">
    <meta property="og:site_name" content="Daily Bugle">
    <meta property="article:published_time" content="2023-11-24T08:00:00+00:00">
    <link rel="canonical" href="https://bugle.example/budget"></head>
    <body><nav><ul>{nav}</ul></nav><article><h1>Council approves budget</h1><p>{body}</p></article>
    <footer>Copyright Daily Bugle. All rights reserved.</footer></body></html>"""
    f = tmp_path / "p.html"
    f.write_text(page)
    (a,), _ = _load(f)
    assert (a.title, a.source, a.published_at, a.url) == (
        "Council approves budget", "Daily Bugle", "2023-11-24", "https://bugle.example/budget")
    assert "approved the budget" in a.text
    assert "Section 12" not in a.text and "All rights reserved" not in a.text


def test_html_without_a_date_gets_none(tmp_path):
    f = tmp_path / "p.html"
    f.write_text("<html><body><p>Published text about rivers and their floods in spring.</p></body></html>")
    (a,), _ = _load(f)
    assert a.published_at is None


def test_json_and_jsonl_records_with_bad_lines(tmp_path):
    rec = {"id": "r1", "title": "T", "source": "S", "url": "https://x.example/1", "published_at": "2024-01-02", "text": "Hello there."}
    (tmp_path / "one.json").write_text(json.dumps([rec]))
    lines = [json.dumps({**rec, "id": "r2"}), "{broken", json.dumps({"id": "r3"}), json.dumps({**rec, "id": "r2"}), ""]
    (tmp_path / "many.jsonl").write_text("\n".join(lines))
    articles, skips = _load(tmp_path)
    assert sorted(a.id for a in articles) == ["r1", "r2"]
    reasons = {s.path.split(":")[-1]: s.reason for s in skips}
    assert "malformed JSON" in reasons["2"]
    assert "no 'text'" in reasons["3"]
    assert "duplicate id" in reasons["4"]


def test_bad_files_are_skipped_with_reasons(tmp_path):
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02" * 100)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_text("   \n\n")
    (tmp_path / "pic.png").write_bytes(b"\x89PNG")
    (tmp_path / "bad.json").write_text("{nope")
    articles, skips = _load(tmp_path)
    assert not articles
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in skips}
    assert "binary" in reasons["bin.txt"]
    assert "empty" in reasons["empty.txt"] and "empty" in reasons["blank.md"]
    assert "unsupported file type" in reasons["pic.png"]
    assert "malformed JSON" in reasons["bad.json"]


def test_encodings(tmp_path):
    (tmp_path / "u16.txt").write_bytes("Zürich voted. Café news.".encode("utf-16"))
    (tmp_path / "latin1.txt").write_bytes("Zürich voted. Café news.".encode("latin-1"))
    (tmp_path / "bom.txt").write_bytes("\ufeffZürich voted. Café news.".encode("utf-8"))
    articles, skips = _load(tmp_path)
    assert not skips
    assert {a.text for a in articles} == {"Zürich voted. Café news."}


def test_dates_and_urls_are_normalised_never_guessed():
    assert normalise_date("2023-10-07T15:37:43+00:00") == "2023-10-07"
    assert normalise_date("Tue, 07 Nov 2023 10:00:00 GMT") == "2023-11-07"
    assert normalise_date("last Tuesday") is None
    assert normalise_date("") is None
    assert canonical_url("HTTPS://Ex.com/a?utm_medium=x&id=3#frag") == "https://ex.com/a?id=3"
    assert canonical_url("javascript:alert(1)") is None

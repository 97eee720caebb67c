"""The chat page's Python layer: respond() drives a turn, uploads are saved safely, article text is text."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.models import Answer, AnswerSentence, Citation
from app.ui import (
    SEARCHING,
    answer_markdown,
    earlier_sources_html,
    escape_md,
    ingest_uploads,
    message_text,
    outlet_choices,
    parse_auth,
    respond,
    safe_filename,
    save_uploads,
    source_card,
    sources_html,
    stats_markdown,
    unescape_md,
)


def test_respond_streams_the_answer_with_source_cards(seeded):
    turns = list(respond(seeded, "Who controls Deir Ezzor?", []))
    assert turns[0][0][-1]["content"] == SEARCHING  # the reader sees work start before retrieval ends
    assert len(turns) >= 3
    history, cards = turns[-1]
    assert history[0] == {"role": "user", "content": "Who controls Deir Ezzor?"}
    assert "less than half the city" in history[1]["content"]
    assert "(#source-1-1)" in history[1]["content"]
    assert 'id="source-1-1"' in cards and "<mark>" in cards and "date unknown" in cards
    assert "<mark>The militants control less than half the city" in cards


def test_follow_up_uses_the_conversation(seeded):
    history, _ = list(respond(seeded, "Who controls Deir Ezzor?", []))[-1]
    history, cards = list(respond(seeded, "And who is advancing from the east?", history))[-1]
    assert "US\\-backed Syrian forces are meanwhile advancing" in history[-1]["content"]
    # Second turn: its markers and cards are numbered apart from the first turn's.
    assert "(#source-2-" in history[-1]["content"] and 'id="source-2-' in cards


def test_follow_up_reads_gradio_6_history(seeded):
    """Gradio 6 hands the history back with content as a list of text parts."""
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Who controls Deir Ezzor?"}], "metadata": None},
        {"role": "assistant", "content": [{"type": "text", "text": "The militants control less than half the city."}]},
    ]
    out, _ = list(respond(seeded, "And who is advancing from the east?", history))[-1]
    assert out[0] == {"role": "user", "content": "Who controls Deir Ezzor?"}
    assert "US\\-backed Syrian forces are meanwhile advancing" in out[-1]["content"]
    assert message_text({"content": None}) == ""


def test_escaped_questions_read_back_exactly():
    q = "What did <b>they</b> say about [ISIS] & the 3-year *siege*?"
    assert unescape_md(escape_md(q)) == q


def test_errors_become_chat_messages(fresh):
    history, _ = list(respond(fresh, "Who controls Deir Ezzor?", []))[-1]
    assert history[-1]["content"].startswith("⚠️") and "newsqa ingest" in history[-1]["content"]
    # The page stays usable: the next turn still runs and the earlier turn is kept.
    history, _ = list(respond(fresh, "   ", history))[-1]
    assert len(history) == 4 and "Ask a question" in history[-1]["content"]


def test_bad_filter_dates_say_what_to_type(seeded):
    history, _ = list(respond(seeded, "Who controls Deir Ezzor?", [], date_from="last tuesday"))[-1]
    assert history[-1]["content"].startswith("⚠️") and "YYYY" in history[-1]["content"]
    assert "Traceback" not in history[-1]["content"]


def test_unexpected_failures_show_no_stack_trace():
    class Broken:
        def stream(self, *a, **kw):
            raise RuntimeError("/secret/path line 12 in module")
            yield  # pragma: no cover

    history, _ = list(respond(Broken(), "Who controls Deir Ezzor?", []))[-1]
    text = history[-1]["content"]
    assert text.startswith("⚠️ Something went wrong (RuntimeError)") and "/secret/path" not in text


def test_article_html_is_shown_as_text():
    c = Citation(n=1, article_id="x", title="<script>alert(1)</script>", source="<b>Evil</b>", date=None,
                 url="javascript:alert(1)", quote="<img src=x onerror=alert(1)>", start=0, end=29,
                 passage="<img src=x onerror=alert(1)>", passage_start=0)
    card = source_card(c)
    assert "<script>" not in card and "&lt;script&gt;" in card
    assert "<img" not in card and "javascript:" not in card and "<b>Evil" not in card
    assert 'href="https://ok.example/a"' in source_card(Citation(**{**c.__dict__, "url": "https://ok.example/a"}))
    assert "href" not in source_card(Citation(**{**c.__dict__, "url": "data:text/html,<script>alert(1)</script>"}))
    assert sources_html(None).startswith("<div")
    syndicated = source_card(Citation(**{**c.__dict__, "also_published_by": ["<i>Wire</i>", "Daily"]}))
    assert "also published by &lt;i&gt;Wire&lt;/i&gt;, Daily" in syndicated
    json.dumps(c.__dict__)


def test_answer_markdown_escapes_sentences():
    a = Answer(question="q", text="x", sentences=[AnswerSentence("<script>alert(1)</script> *bold*", [1], "quoted")])
    md = answer_markdown(a, turn=3)
    assert "<script>" not in md and "\\*bold\\*" in md and "(#source-3-1)" in md
    verdict = Answer(question="q", text="x", sentences=[AnswerSentence("Yes (the model's conclusion; unchecked).", [], "verdict"),
                                                        AnswerSentence("It was.", [1], "supported")])
    assert answer_markdown(verdict).startswith("*Yes \\(the model's conclusion; unchecked\\).* It was. [")


def test_earlier_sources_are_folded_and_escaped():
    folded = earlier_sources_html([(2, "<script>x</script>?", '<div id="source-2-1"></div>'), (1, "first", "")])
    assert folded.index("answer 2") < folded.index("answer 1")
    assert "<script>" not in folded and "&lt;script&gt;" in folded and 'id="source-2-1"' in folded


def test_user_questions_are_shown_as_text(seeded):
    history, _ = list(respond(seeded, "<img src=x onerror=alert(1)> who controls Deir Ezzor?", []))[-1]
    assert "<img" not in history[0]["content"] and "&lt;img" in history[0]["content"]


# --- filters --------------------------------------------------------------------------------------


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.fixture
def two_outlets(fresh, tmp_path):
    """An index with two dated articles from two outlets about the same dam."""
    a = _write(tmp_path / "up", "gazette.md", "---\ntitle: Dam opens\nsource: Valley Gazette\ndate: 2021-03-04\n---\n"
               "The Orvane dam opened on Monday after six years of work. Engineers said the Orvane dam holds 40 million cubic metres.\n")
    b = _write(tmp_path / "up", "courier.md", "---\ntitle: Dam leaks\nsource: Hill Courier\ndate: 2023-07-09\n---\n"
               "Inspectors found that the Orvane dam leaks at its eastern wall. Repairs to the Orvane dam will take a year.\n")
    text, report = ingest_uploads(fresh, [a, b])
    assert report is not None and report.added == 2, text
    return fresh


def test_outlet_filter_limits_the_sources(two_outlets):
    for outlet in ("Valley Gazette", "Hill Courier"):
        _, cards = list(respond(two_outlets, "What happened at the Orvane dam?", [], sources=[outlet]))[-1]
        assert cards.count('class="newsqa-card"') >= 1
        assert cards.count(outlet) == cards.count('class="newsqa-card"'), cards


def test_date_filter_limits_the_sources(two_outlets):
    _, cards = list(respond(two_outlets, "What happened at the Orvane dam?", [], date_from="2022-01-01"))[-1]
    assert "Hill Courier" in cards and "Valley Gazette" not in cards
    _, cards = list(respond(two_outlets, "What happened at the Orvane dam?", [], date_to="2022-01-01"))[-1]
    assert "Valley Gazette" in cards and "Hill Courier" not in cards
    history, cards = list(respond(two_outlets, "What happened at the Orvane dam?", [], date_from="2030-01-01"))[-1]
    assert "within your filters" in history[-1]["content"] and 'class="newsqa-card"' not in cards


# --- uploads --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\evil.md", "evil.md"),
        ("/abs/path/report.json", "report.json"),
        (".hidden.txt", "hidden.txt"),
        ("..", "upload"),
        ("a b;rm -rf $HOME.txt", "a b_rm -rf_HOME.txt"),
        ("naïve café.md", "na_ve caf_.md"),
        ("x\x00y.txt", "x_y.txt"),
    ],
)
def test_safe_filename_stays_in_the_folder(raw, expected):
    assert safe_filename(raw) == expected
    assert "/" not in expected and "\\" not in expected and not expected.startswith(".")


def test_save_uploads_checks_type_and_size_and_never_overwrites(tmp_path):
    src = tmp_path / "in"
    one = _write(src / "a", "story.txt", "First story about a bridge.")
    two = _write(src / "b", "story.txt", "Second, different story about a tunnel.")
    again = _write(src / "c", "story.txt", "First story about a bridge.")
    pdf = _write(src, "scan.pdf", "%PDF-1.4")
    big = _write(src, "big.txt", "x" * 3000)
    dest = tmp_path / "data" / "uploads"
    saved, skipped = save_uploads([one, two, again, pdf, big], dest, max_mb=0.002)
    assert len(saved) == 3 and len(set(saved)) == 2  # same content, same copy; different content, its own
    assert all(p.parent == dest.resolve() and p.name.startswith("story-") for p in saved)
    assert {p.read_text() for p in saved} == {"First story about a bridge.", "Second, different story about a tunnel."}
    reasons = {s.path: s.reason for s in skipped}
    assert "unsupported file type '.pdf'" in reasons["scan.pdf"]
    assert "too large" in reasons["big.txt"]
    assert sorted(p.name for p in dest.iterdir()) == sorted({p.name for p in saved})


def test_upload_limit_comes_from_the_environment(tmp_path, monkeypatch):
    f = _write(tmp_path, "a.txt", "y" * 2048)
    monkeypatch.setenv("NEWSQA_MAX_UPLOAD_MB", "0.001")
    saved, skipped = save_uploads([f], tmp_path / "up")
    assert not saved and "the limit is 0.001 MB" in skipped[0].reason
    monkeypatch.setenv("NEWSQA_MAX_UPLOAD_MB", "lots")
    with pytest.raises(ValueError, match="NEWSQA_MAX_UPLOAD_MB"):
        save_uploads([f], tmp_path / "up")


def test_ingest_uploads_reports_and_refreshes_the_facts(fresh, tmp_path):
    assert "**0** articles" in stats_markdown(fresh)
    progress: list[tuple[int, int | None]] = []
    good = _write(tmp_path / "u", "harbour.md", "---\nsource: Port <Tribune>\ndate: 2020-05-06\n---\n"
                  "# Lighthouse vote\n\nThe council of Port Vellan voted 7 to 2 to rebuild the Kestrel Point lighthouse.\n")
    bad = _write(tmp_path / "u", "empty.txt", "")
    text, report = ingest_uploads(fresh, [good, bad], on_progress=lambda d, t: progress.append((d, t)))
    assert report.added == 1 and progress[-1] == (2, 2)
    assert text.startswith("**Added 1**") and "skipped **empty.txt**: empty file" in text and "empty file" in text
    assert str(tmp_path) not in text  # the server's folders are not shown
    assert "**1** articles" in stats_markdown(fresh) and "2020-05-06 to 2020-05-06" in stats_markdown(fresh)
    assert "Port &lt;Tribune&gt; (1)" in stats_markdown(fresh)
    assert outlet_choices(fresh) == ["Port <Tribune>"]
    assert all(p.is_relative_to(Path(fresh.settings.data_dir) / "uploads") for p in
               (Path(fresh.settings.data_dir) / "uploads").iterdir())
    history, cards = list(respond(fresh, "How did the council of Port Vellan vote on the lighthouse?", []))[-1]
    assert "voted 7 to 2" in history[-1]["content"] and "Lighthouse vote" in cards
    # The same upload again changes nothing.
    text, report = ingest_uploads(fresh, [good])
    assert report.added == 0 and report.unchanged == 1
    assert ingest_uploads(fresh, [])[1] is None


# --- several people at once -----------------------------------------------------------------------


def test_concurrent_conversations_keep_their_own_history(seeded):
    conversations = [
        ["Who controls Deir Ezzor?", "And who is advancing from the east?"],
        ["How long was the ISIS siege of Deir Ezzor?"],
        ["Who controls Deir Ezzor?"],
        ["How many cruise missiles did Russia launch?", "From where were they launched?"],
    ]

    def run(questions: list[str]) -> list[dict]:
        history: list[dict] = []
        for q in questions:
            history, _ = list(respond(seeded, q, history))[-1]
        return history

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, conversations * 2))
    for questions, history in zip(conversations * 2, results):
        assert [m["content"] for m in history if m["role"] == "user"] == [escape_md(q) for q in questions]
        assert all(not m["content"].startswith("⚠️") for m in history if m["role"] == "assistant")
    assert "US\\-backed Syrian forces are meanwhile advancing" in results[0][-1]["content"]
    assert "three\\-year ISIS siege" in results[1][-1]["content"]
    assert "seven cruise missiles" in results[3][1]["content"]


def test_parse_auth():
    assert parse_auth(None) is None and parse_auth("") is None
    assert parse_auth("reporter:pa:ss") == ("reporter", "pa:ss")
    for bad in ("reporter", ":pw", "user:"):
        with pytest.raises(ValueError, match="user:password"):
            parse_auth(bad)


def test_create_app_builds_the_page(seeded):
    from app.ui import create_app

    demo = create_app(seeded)
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert {"newsqa-chat", "newsqa-question", "newsqa-sources", "newsqa-upload", "newsqa-stats", "newsqa-outlets"} <= ids


def test_a_model_that_fails_to_load_is_a_warning_in_the_chat(seeded, tmp_path):
    from app import NewsQA

    qa = NewsQA(seeded.settings.data_dir, embedder=seeded.embedder, store=seeded.store,
                llm=f"llamacpp:{tmp_path / 'missing.gguf'}", mode="generative")
    history, cards = list(respond(qa, "Who controls Deir Ezzor?", []))[-1]
    text = history[-1]["content"]
    assert "⚠️" in text and "missing.gguf" in text and "Traceback" not in text
    assert "less than half the city" in text and 'class="newsqa-card"' in cards  # the quoted sources still come


def test_a_card_marks_each_supporting_sentence_and_adjacent_ones_as_one():
    text = "The Eagles won 40-22. Fans cheered. The game was played in New Orleans. It rained."
    a, b = text.index("The game"), text.index(" It rained")
    c = Citation(n=1, article_id="x", title="t", source=None, date=None, url=None, quote=text[0:b], start=0, end=b,
                 passage=text, passage_start=0, spans=[[0, 21], [a, b]])
    card = source_card(c)
    assert card.count("<mark>") == 2 and "<mark>The Eagles won 40-22.</mark> Fans cheered. <mark>The game" in card
    together = source_card(Citation(**{**c.__dict__, "spans": [[0, 21], [22, 35]], "quote": text[:35], "end": 35}))
    assert together.count("<mark>") == 1 and "<mark>The Eagles won 40-22. Fans cheered.</mark>" in together


def test_a_card_says_when_its_article_carries_control_text():
    text = "The harbour will close on 3 March."
    c = Citation(n=1, article_id="x", title="t", source=None, date=None, url=None, quote=text, start=0, end=len(text),
                 passage=text, spans=[[0, len(text)]])
    assert "control text" not in source_card(c)
    flagged = source_card(Citation(**{**c.__dict__, "control_text": True}))
    assert "carries chat-role or control text" in flagged and "<mark>" in flagged

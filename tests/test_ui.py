"""The chat page's Python layer: respond() drives a turn, and article text is shown as text."""

import json

from app.models import Citation
from app.ui import answer_markdown, respond, source_card, sources_html


def test_respond_streams_the_answer_with_source_cards(seeded):
    turns = list(respond(seeded, "Who controls Deir Ezzor?", []))
    history, cards = turns[-1]
    assert history[0] == {"role": "user", "content": "Who controls Deir Ezzor?"}
    assert "less than half the city" in history[1]["content"]
    assert "(#source-1)" in history[1]["content"]
    assert 'id="source-1"' in cards and "<mark>" in cards and "date unknown" in cards


def test_follow_up_uses_the_conversation(seeded):
    history, _ = list(respond(seeded, "Who controls Deir Ezzor?", []))[-1]
    history, _cards = list(respond(seeded, "And who is advancing from the east?", history))[-1]
    assert "US\\-backed Syrian forces are meanwhile advancing" in history[-1]["content"]


def test_errors_become_chat_messages(fresh):
    history, _ = list(respond(fresh, "Who controls Deir Ezzor?", []))[-1]
    assert history[-1]["content"].startswith("⚠️") and "newsqa ingest" in history[-1]["content"]


def test_article_html_is_shown_as_text():
    c = Citation(n=1, article_id="x", title="<script>alert(1)</script>", source="<b>Evil</b>", date=None,
                 url="javascript:alert(1)", quote="<img src=x onerror=alert(1)>", start=0, end=29,
                 passage="<img src=x onerror=alert(1)>", passage_start=0)
    card = source_card(c)
    assert "<script>" not in card and "&lt;script&gt;" in card
    assert "<img" not in card and "javascript:" not in card and "<b>Evil" not in card
    assert 'href="https://ok.example/a"' in source_card(Citation(**{**c.__dict__, "url": "https://ok.example/a"}))
    assert sources_html(None).startswith("<div")
    json.dumps(c.__dict__)


def test_answer_markdown_escapes_sentences(seeded):
    from app.models import Answer, AnswerSentence

    a = Answer(question="q", text="x", sentences=[AnswerSentence("<script>alert(1)</script> *bold*", [1], "quoted")])
    md = answer_markdown(a)
    assert "<script>" not in md and "\\*bold\\*" in md

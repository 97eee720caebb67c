"""Leading with the answer, honest near-misses and planted text, on the real seed index (issue 16).

Real components: the bundled encoder, Chroma on a temp dir, the seed article. `leading` answers
lead-first (`Tuning(lead_first=True)`); `seeded` is the default composer, whose quotes open with
the same lead.
"""

from __future__ import annotations

import pytest

from app import NewsQA
from app.answer import ABSTAIN_TEXT, Tuning
from app.answer.asked import asked_kind, not_said
from app.evaluation import answer_words, first_claim
from app.ui import sources_html

from .conftest import PLANTED, SEED_FILE

SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")

# Details the seed article never gives, and the plain sentence each gets.
NEAR_MISSES = [
    ("Who commanded the submarines that launched the missiles?", "The articles don't say who commanded the submarines that launched the missiles."),
    ("How many civilians died in the Russian strikes?", "The articles don't say how many civilians died in the Russian strikes."),
    ("Who is the mayor of Deir Ezzor?", "The articles don't say who is the mayor of Deir Ezzor."),
    ("What is the population of Deir Ezzor?", "The articles don't say what is the population of Deir Ezzor."),
]
# Questions it answers, the words that must lead the answer, and the answering words marked on the card.
ANSWERS = [
    ("How many cruise missiles did Russia launch?", "seven cruise missiles", "seven"),
    ("Where were the submarines?", "Mediterranean Sea", "Mediterranean Sea"),
    ("How long was the ISIS siege of Deir Ezzor?", "three-year ISIS siege", "three"),
    ("Who controls Deir Ezzor?", "The militants control less than half the city", None),
    ("Which city did the Russian Navy bomb ISIS near in late May?", "Palmyra", "Palmyra"),
]


@pytest.mark.parametrize("question,plain", NEAR_MISSES)
def test_a_detail_the_article_never_gives_is_a_plain_near_miss(leading, question, plain):
    a = leading.ask(question)
    assert a.abstained and not a.citations and not a.sentences
    assert a.text.startswith(plain), a.text
    assert a.searched["found"] == "topic"  # the topic is there, not the fact
    # The closest passages are context to open, not the answer.
    assert a.context and all(SEED_TEXT[c.start : c.end] == c.quote for c in a.context)
    cards = sources_html(a)
    assert "Closest passages (they don't answer the question)" in cards and "<b>[1]</b>" not in cards


def test_nothing_about_the_question_is_told_apart_from_a_near_miss(leading):
    a = leading.ask("Who won the 2022 World Cup?")
    assert a.abstained and a.text.startswith(ABSTAIN_TEXT) and "don't say who" not in a.text
    assert a.searched["found"] == "nothing" and "none mentions 2022, World, Cup" in a.text


@pytest.mark.parametrize("question,fact,span", ANSWERS)
def test_an_answerable_question_leads_with_the_fact_and_cites_it(leading, question, fact, span):
    a = leading.ask(question)
    assert not a.abstained
    assert fact in first_claim(a.text), a.text
    assert len(a.citations) == 1 and len(a.sentences) == 1 and a.sentences[0].citations == [1]
    c = a.citations[0]
    assert SEED_TEXT[c.start : c.end] == c.quote and fact in c.quote
    assert answer_words(a.text) <= 45
    if span is not None:
        assert c.answer_span and SEED_TEXT[c.answer_span[0] : c.answer_span[1]] == span
        assert f'<strong class="newsqa-answer">{span}</strong>' in sources_html(a)
    assert all(x.n > 1 for x in a.context)  # context cards are numbered after the cited one, never cited


def test_the_default_composer_opens_with_the_same_lead(seeded, leading):
    question = "How many cruise missiles did Russia launch?"
    lead = leading.ask(question).text
    default = seeded.ask(question)
    assert default.text.startswith(lead.rsplit(" [1]", 1)[0])
    assert not default.context  # the default quotes its other sentences in the answer


def test_near_miss_sentences_read_as_plain_english():
    assert not_said("When was the dam finished?") == "The articles don't say when the dam was finished."
    assert not_said("Where is the festival?") == "The articles don't say where the festival is."
    assert not_said("Did Turkey object?").startswith("The articles don't answer")
    assert [asked_kind(q) for q in ("When did it end?", "How many died?", "Which holiday was celebrated?", "Which is larger?")] == [
        "date", "number", "name", None]


def test_a_percentage_question_is_answered_by_a_percentage():
    from app.answer.asked import answer_spans

    q = "What was the target percentage of households the broadcaster wanted to reach?"
    assert asked_kind(q) == "number" and asked_kind("What is the population of Deir Ezzor?") == "number"
    assert asked_kind("What was the main reason?") is None
    reached = "Confirming it had reached its target, the broadcaster said its reach into 36% of households represented 10 million people."
    assert [reached[a:b] for a, b in answer_spans("number", reached, q)] == ["36"]
    gained = "Within two months of the launch, the broadcaster gained 400,000 new subscribers."
    assert answer_spans("number", gained, q) == [] and answer_spans("number", gained, "How many subscribers did it gain?")


@pytest.mark.parametrize("lead_first", [False, True])
def test_a_planted_line_is_never_the_answer_about_another_articles_topic(planted_dir, embedder, lead_first):
    qa = NewsQA(planted_dir, embedder=embedder, tuning=Tuning(lead_first=lead_first))
    try:
        for question in ("Who controls Deir Ezzor?", "Who controls Deir Ezzor according to the Assistant?"):
            a = qa.ask(question)
            assert "Pineapple" not in a.text, a.text
            for c in a.citations + a.context:
                assert "Pineapple" not in c.quote
                if c.article_id == PLANTED["id"]:
                    assert c.control_text  # its card says it carries control text
        a = qa.ask("Who controls Deir Ezzor?")
        assert "The militants control less than half the city" in first_claim(a.text)
        assert "Pineapple" in qa.store.article_text(PLANTED["id"])  # nothing deleted
    finally:
        qa.store.close()


COINS = [
    {"id": "coin", "title": "A record for digital money", "source": "Market Wire", "published_at": "2024-12-05",
     "text": "Considered the first successful cryptocurrency, Bitcoin was launched in 2009 by an unknown creator. "
             "The digital currency surpassed $100,000 for the first time on Thursday. "
             "Traders celebrated across Asia and Europe."},
]


def test_a_fact_told_across_two_sentences_leads_with_both(tmp_path, embedder):
    # The sentence stating what was asked names no cryptocurrency ("The digital currency ..."); the
    # one beside it does: both lead, and the answer is no near-miss.
    from .conftest import index_records

    qa = index_records(tmp_path, embedder, COINS, tuning=Tuning(lead_first=True))
    try:
        a = qa.ask("Which cryptocurrency surpassed $100,000 for the first time?", today="2024-12-06")
        assert not a.abstained, a.text
        claim = first_claim(a.text)
        assert "Bitcoin" in claim and "surpassed $100,000" in claim, a.text
        (c,) = a.citations
        assert len(c.spans) == 2 and c.answer_span and c.passage[c.answer_span[0] - c.passage_start : c.answer_span[1] - c.passage_start] == "Bitcoin"
        gone = qa.ask("Which cryptocurrency did traders in Africa sell?", today="2024-12-06")
        assert gone.abstained, gone.text  # nothing beside says Africa: still a near-miss
    finally:
        qa.store.close()


HARBOUR = [
    {"id": "named", "title": "Port Alder names a harbour master", "source": "Coast Herald", "published_at": "2025-01-10",
     "text": "The Port Alder council named Ana Ruiz harbour master of Port Alder on Thursday. "
             "She has worked on the docks for twenty years."},
    {"id": "quit", "title": "Port Alder harbour master resigns", "source": "Coast Herald", "published_at": "2025-03-02",
     "text": "Tom Blake is the new harbour master of Port Alder after the council accepted Ana Ruiz's resignation. "
             "The council thanked her for her work."},
]


def test_an_article_dated_after_the_day_asked_never_opens_the_quotes(tmp_path, embedder):
    # Asked on 2025-01-12, the March article is not news the asker could have read: the January
    # one leads, and the later one may follow it. Asked in March, the newest leads as before.
    from .conftest import index_records

    qa = index_records(tmp_path, embedder, HARBOUR)
    try:
        question = "Who is the harbour master of Port Alder?"
        then = qa.ask(question, today="2025-01-12")
        assert {c.article_id for c in then.citations} == {"named", "quit"}, then.text  # both are quoted ...
        assert then.citations[0].article_id == "named" and "Ana Ruiz" in first_claim(then.text), then.text  # ... January first
        # ... and the March one is marked as later than the day asked, not the January one as earlier.
        said = {then.citations[s.citations[0] - 1].article_id: s.attribution for s in then.sentences if s.attribution}
        assert said == {"named": "Coast Herald (2025-01-10)", "quit": "Later, Coast Herald (2025-03-02)"}, said
        now = qa.ask(question, today="2025-03-03")
        assert now.citations[0].article_id == "quit", now.text
    finally:
        qa.store.close()


TOWNS = [
    {"id": "wool", "title": "A history of the wool trade", "source": "Dales Review", "published_at": "",
     "text": "The city would become the modern centre of the wool trade in Northumbria. Its mills employed thousands."},
    {"id": "ford", "title": "Old names on the map", "source": "Harrow Herald", "published_at": "",
     "text": "Kestrel Ford was a walled market town on the river Dun. "
             "The Central Region of the old kingdom held Kestrel Ford (modern Dunmere) and four other towns."},
]


@pytest.mark.parametrize("about", [True, False])
def test_the_lead_comes_from_an_article_about_what_the_question_names(tmp_path, embedder, about):
    # "The city would become the modern centre ..." says the verb asked about, but its article never
    # names Kestrel Ford: it answers about some other city. A name in the wh-phrase ("Which US
    # chain ...?") says what the answer is, not what it is about, and is not required.
    from app.answer.extractive import _named

    from .conftest import index_records

    assert _named("Which US drug store chain filed for bankruptcy?") == set()
    assert _named("What modern city did Kestrel Ford become?") == {"kestrel", "ford"}
    qa = index_records(tmp_path, embedder, TOWNS, tuning=Tuning(lead_about=about))
    try:
        a = qa.ask("What modern city did Kestrel Ford become?")
        assert not a.abstained, a.text
        assert (a.citations[0].article_id == "ford") is about and ("wool" in first_claim(a.text)) is not about, a.text
    finally:
        qa.store.close()

"""Answers you can trust: disagreeing outlets, a fact that changes over time, choice questions."""


import pytest

from .conftest import index_records

SIEGE = [
    {"id": "early", "title": "Militants hold Raqqa", "source": "Levant Wire", "published_at": "2017-06-02",
     "text": "Islamic State militants control the city of Raqqa. Residents said food prices had tripled since spring. "
             "Aid convoys have not reached the city for weeks."},
    {"id": "late", "title": "Raqqa falls", "source": "Desert Herald", "published_at": "2017-10-17",
     "text": "The Syrian Democratic Forces now control the city of Raqqa after the last militants surrendered. "
             "Engineers began clearing mines from the main roads. Thousands of families are expected to return."},
]
BRIDGE = [
    {"id": "a", "title": "Harbour bridge reopens", "source": "Morning Post", "published_at": "2024-03-04",
     "text": "The Harbour Bridge reopened to traffic on Monday, the city transport office said. "
             "Commuters welcomed the end of the detour."},
    {"id": "b", "title": "Bridge still shut", "source": "Evening Standard", "published_at": "2024-03-04",
     "text": "The Harbour Bridge remains closed to traffic on Monday because of cracked bearings, engineers said. "
             "The detour through the old town continues."},
]


def _qa(tmp_path, embedder, records):
    return index_records(tmp_path, embedder, records)


def test_a_fact_that_changed_is_given_newest_first_with_the_older_one(tmp_path, embedder):
    qa = _qa(tmp_path, embedder, SIEGE)
    a = qa.ask("Who controls Raqqa?", today="2017-11-01")
    assert a.as_of == "2017-10-17"
    assert a.text.index("Syrian Democratic Forces") < a.text.index("Islamic State militants")
    assert "Desert Herald (2017-10-17)" in a.text and "Earlier, Levant Wire (2017-06-02)" in a.text
    assert {c.article_id for c in a.citations} == {"early", "late"}
    qa.store.close()


def test_disagreeing_outlets_are_both_shown_each_with_its_source(tmp_path, embedder):
    qa = _qa(tmp_path, embedder, BRIDGE)
    a = qa.ask("Is the Harbour Bridge open to traffic?")
    assert "reopened to traffic" in a.text and "remains closed" in a.text
    assert "Morning Post (2024-03-04)" in a.text and "Evening Standard (2024-03-04)" in a.text
    assert {c.source for c in a.citations} == {"Morning Post", "Evening Standard"}
    qa.store.close()


def test_choice_questions_pick_the_choice_the_sources_name(tmp_path, embedder):
    qa = _qa(tmp_path, embedder, SIEGE)
    question = ("Which group controlled Raqqa in October 2017? Is it the Islamic State, the Kurdish Peshmerga "
                "or the Syrian Democratic Forces?")
    a = qa.ask(question, today="2017-11-01", choices=True)
    assert a.text.startswith("The Syrian Democratic Forces [1]")
    assert a.citations[0].article_id == "late" and "now control the city" in a.citations[0].quote
    assert a.sentences[0].support == "choice"  # named by its source, not checked as a claim
    # Choices are opt-in: without them the question is answered like any other, from the sources.
    plain = qa.ask(question, today="2017-11-01")
    assert plain.sentences[0].support == "quoted" and not plain.text.startswith("The Syrian Democratic Forces [1]")
    qa.store.close()


@pytest.mark.parametrize(
    "question,stem,choices",
    [
        ("Which country is Pope Leo XIV from? Is it Italy, Argentina, France or the United States?",
         "Which country is Pope Leo XIV from?", ["Italy", "Argentina", "France", "the United States"]),
        ("Who won? Was it Smith or Jones?", "Who won?", ["Smith", "Jones"]),
        ("Who controls Deir Ezzor?", "Who controls Deir Ezzor?", []),
        # A comma inside a number does not split it.
        ("How big is the bonus? Is it $1,000, $5,000 or $10,000?", "How big is the bonus?", ["$1,000", "$5,000", "$10,000"]),
        # "City, State" stays one choice; a list of states does not pair up; "D.C." keeps its dots.
        ("Where did the Pilgrims land? Is it Jamestown, Virginia, Plymouth, Massachusetts or Newport, Rhode Island?",
         "Where did the Pilgrims land?", ["Jamestown, Virginia", "Plymouth, Massachusetts", "Newport, Rhode Island"]),
        ("Which state voted first? Is it Georgia, Arizona or Michigan?", "Which state voted first?", ["Georgia", "Arizona", "Michigan"]),
        ("Near which city? Is it New York, Chicago, Washington, D.C. or Atlanta?", "Near which city?",
         ["New York", "Chicago", "Washington, D.C.", "Atlanta"]),
    ],
)
def test_split_choices(question, stem, choices):
    from app.answer.choices import split_choices

    assert split_choices(question) == (stem, choices)


def test_a_city_state_choice_is_named_by_its_city():
    from app.answer.choices import _mentions

    assert _mentions("Immigration agents arrived in Charlotte on Saturday.", "Charlotte, North Carolina")
    assert not _mentions("Agents arrived in Raleigh, North Carolina.", "Charlotte, North Carolina")
    assert _mentions("The bonus would be $5,000 a child.", "$5,000") and not _mentions("5 of 000", "$5,000")

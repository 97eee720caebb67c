"""What the evidence score reads from a question: the kind of answer, named outlets and dates."""

from __future__ import annotations

import pytest

from app.answer.question import answer_kind, date_affinity, named_periods, offers, source_named
from ingest.terms import words


@pytest.mark.parametrize(
    "question,kind",
    [
        ("Pope Francis died in April. Which country is Pope Leo XIV from?", "name"),
        ("Who won the election in Ohio?", "name"),
        ("Where did the storm make landfall?", "name"),
        ("How many people were evacuated?", "number"),
        ("In what year was the dam finished?", "number"),
        ("When did the siege end?", "number"),
        # The preamble's "who" is not the question.
        ("Officials who spoke on Monday were cautious. What did the Fed decide?", None),
        ("Why did the talks fail?", None),
    ],
)
def test_answer_kind_reads_the_question_sentence(question, kind):
    assert answer_kind(question) == kind


def test_offers_needs_something_the_question_does_not_already_hold():
    q = "Which country is Pope Leo XIV from?"
    assert offers("name", "He is the first pontiff born in the United States.", q)
    assert not offers("name", "Pope Leo XIV greeted the crowd.", q)  # only names from the question
    assert offers("number", "The siege lasted three years.", "How long did the siege last?")
    assert offers("number", "It ended in 2017.", "When did the siege end?")
    assert not offers("number", "It ended in 2017.", "When in 2017 did the siege end?")
    assert not offers(None, "It ended in 2017.", "Why did it end?")


@pytest.mark.parametrize(
    "source,named",
    [
        ("TechCrunch", 1.0),
        ("Cnbc | World Business News Leader", 1.0),  # the name before the tagline is enough
        ("The Independent - Life and Style", 0.0),
        ("The Verge", 0.0),
        (None, 0.0),
    ],
)
def test_source_named(source, named):
    q = set(words("Between the TechCrunch report and the one by Cnbc on 2023-10-02, did the story change?"))
    assert source_named(q, source) == named


def test_named_periods_down_to_the_day():
    assert named_periods("the report published on October 7, 2023") == [(2023, 10, 7)]
    assert named_periods("The Verge on 2023-11-24") == [(2023, 11, 24)]
    assert named_periods("in October 2017") == [(2017, 10, None)]
    assert named_periods("in 2019") == [(2019, None, None)]
    assert named_periods("What may happen next?") == []
    periods = named_periods("on September 26th 2023 and in March")
    assert date_affinity(periods, "2023-09-26") == 1.0
    assert date_affinity(periods, "2024-03-02") == 1.0
    assert date_affinity(periods, "2023-09-27") == 0.0
    assert date_affinity(periods, None) == 0.0
    assert date_affinity(periods, "not a date") == 0.0


def test_key_terms_keep_numbers_and_match_dotted_abbreviations():
    from app.answer.question import acronyms, key_terms

    assert key_terms("What is the average price for a 16-pound turkey?") == ["16"]
    assert key_terms("Which US drug store chain filed for bankruptcy in 2025?") == ["us", "2025"]
    assert acronyms("The U.S. and the U.N. met; US-made.") == {"us", "un"}


def test_an_apostrophe_is_not_a_quote():
    from app.answer.question import key_terms

    # "Google's deals ... while 'The Age'" quotes only "The Age", not all between the apostrophes.
    q = "Does 'The Verge' say Google's deals with Apple are unnecessary, while 'The Age' says they aren't?"
    assert key_terms(q) == ["verge", "google", "apple", "age"]
    assert key_terms('Who called the Deck "just better"?') == ["deck", "better"]


@pytest.mark.parametrize(
    "question,yes_no",
    [
        ("Does the Verge article say Google's deals are unnecessary?", True),
        ("Between the Polygon report of November 9, 2023, and Engadget's review, is there consistency in their reporting?", True),
        ("Did the report from Fortune on Rogers Communications Inc. and the Herald's article both show a fall?", True),
        ("Is Saquon Barkley on pace to break the NFL single-season rushing record?", True),
        ("Which company, named by The Age, is accused of manipulating search results?", False),
        ("Luigi Mangione, the suspect in the killing, was captured in which state?", False),
        ("Did Engadget's review agree or disagree with Polygon on the new mechanic?", False),
        ("Was the defense reported as strong before or after the loss?", False),
        ("Who won Super Bowl LIX?", False),
    ],
)
def test_asks_yes_no(question, yes_no):
    from app.answer.question import asks_yes_no

    assert asks_yes_no(question) is yes_no


def test_the_asked_sentence_goes_on_past_an_abbreviation():
    from app.answer.question import asked_sentence

    assert asked_sentence("Pope Francis died in April. Which country is Pope Leo XIV from?") == "Which country is Pope Leo XIV from?"
    q = "Did the report on Rogers Communications Inc. and the one on Amazon both show a fall?"
    assert asked_sentence(q) == q


def test_key_coverage_finds_us_in_a_text_saying_u_s(embedder):
    from app.answer import EvidenceScorer
    from ingest.store import Passage

    p = Passage(chunk_id="c", article_id="a", text="The U.S. chain sold 16 stores.", start=0, end=30, title=None, source=None, url=None, published_at=None)
    scorer = EvidenceScorer(embedder)
    assert scorer.key_coverage("Which US chain sold stores?", [p]) == 1.0
    assert scorer.key_coverage("Which US chain sold 16-pound turkeys?", [p]) == 1.0


def test_a_name_most_of_a_large_index_holds_does_not_decide_coverage(embedder):
    from app.answer import EvidenceScorer, Tuning
    from ingest.keyword import KeywordIndex
    from ingest.store import Passage

    keyword = KeywordIndex()
    for i in range(10):
        keyword.add(f"c{i}", f"Story {i} about the US economy." if i < 3 else f"Story {i} about bread.", {"article_id": f"a{i}"})
    p = Passage(chunk_id="c", article_id="a", text="Pasta meals were recalled over listeria.", start=0, end=40,
                title=None, source=None, url=None, published_at=None)
    question = "Which outbreak was linked to pasta meals in the US?"
    # "US" is in 30% of the index: its absence from the passages says nothing about the topic.
    assert EvidenceScorer(embedder, keyword, Tuning(common_min_chunks=10)).key_coverage(question, [p]) == 1.0
    # In an index too small for shares to mean much, or where the name is rare, it counts.
    assert EvidenceScorer(embedder, keyword, Tuning(common_min_chunks=200)).key_coverage(question, [p]) == 0.0
    assert EvidenceScorer(embedder, keyword, Tuning(common_min_chunks=10, common_share=0.5)).key_coverage(question, [p]) == 0.0


def _sentences_of(embedder, text: str, title: str | None = None):
    """The sentences of a one-passage article, as the citation check receives them."""
    from app.answer import EvidenceScorer
    from ingest.store import Passage

    p = Passage(chunk_id="c", article_id="a", text=text, start=0, end=len(text), title=title, source=None, url=None, published_at=None)
    return EvidenceScorer(embedder).sentences([p])


@pytest.mark.parametrize(
    "source,kept,refused,reason",
    [
        # Same words, other meaning: a forecast or a negation the source does not make.
        ("The Miller Street bakery won the regional bread prize on Tuesday.",
         "The Miller Street bakery won the regional bread prize.",
         ["The Miller Street bakery will win the regional bread prize.",
          "The Miller Street bakery did not win the regional bread prize."],
         "does not say"),
        # The same number in another currency or scale.
        ("The average price for a 16-pound turkey this year is $21.50, and the deal was worth $5 million.",
         "The average price for a 16-pound turkey this year is $21.50.",
         ["The average price for a 16-pound turkey this year is 21.50 cents.",
          "The average price for a 16-pound turkey this year is $21.50, and the deal was worth $5 billion."],
         "numbers differ"),
    ],
)
def test_the_citation_check_refuses_a_changed_claim(embedder, source, kept, refused, reason):
    from app.answer import Tuning
    from app.answer.verify import check_sentence

    evidence = _sentences_of(embedder, source)
    assert check_sentence(kept, [1], evidence, embedder, Tuning()).supported
    for changed in refused:
        verdict = check_sentence(changed, [1], evidence, embedder, Tuning())
        assert not verdict.supported and reason in verdict.reason, verdict


def test_a_bare_answer_is_checked_by_its_words_without_its_wrapper(embedder):
    """ "The answer is: Zohran Mamdani." is the bare answer "Zohran Mamdani.", whose words the source must hold."""
    from app.answer import Tuning
    from app.answer.verify import check_sentence, split_model_text

    text = "Zohran Mamdani won the race for mayor of New York City on Tuesday night."
    evidence = _sentences_of(embedder, text)
    (bare, cited), = split_model_text("The answer is: Zohran Mamdani [1].")
    assert (bare, cited) == ("Zohran Mamdani.", [1])
    assert split_model_text("The turkeys pardoned this week are: [1]. Gobble and Waddle [1].") == [("Gobble and Waddle.", [1])]
    assert check_sentence(bare, cited, evidence, embedder, Tuning()).supported
    assert not check_sentence("Andrew Cuomo.", [1], evidence, embedder, Tuning()).supported
    # Without the bare-answer rule the similarity of one word to a whole sentence decides, and fails.
    text = "Lawmakers passed the ban on social media accounts for children under 16 late on Thursday, making Australia the first country with such a law."
    evidence = _sentences_of(embedder, text)
    assert check_sentence("Australia.", [1], evidence, embedder, Tuning()).supported
    assert not check_sentence("Australia.", [1], evidence, embedder, Tuning(bare_terms=0)).supported


def test_a_bare_answer_needs_the_subject_asked_about_in_its_source(embedder):
    """The names of the governor's turkeys do not answer a question about the president's."""
    from app.answer import Tuning
    from app.answer.verify import check_sentence

    question = "What are the names of the turkeys President Donald Trump pardoned before Thanksgiving this week?"
    evidence = _sentences_of(
        embedder,
        "President Donald Trump pardoned two turkeys named Gobble and Waddle at the White House. "
        "North Carolina Gov. Josh Stein also pardoned two turkeys, named Krispy and Kreme, ahead of Thanksgiving.",
        title="Two North Carolina turkeys get pardon from President Donald Trump",
    )
    verdict = check_sentence("Krispy Kreme.", [1], evidence, embedder, Tuning(), question)
    assert not verdict.supported, verdict
    assert check_sentence("Gobble and Waddle.", [1], evidence, embedder, Tuning(), question).supported
    # Without the question, the words alone decide, and the wrong pair passes.
    assert check_sentence("Krispy Kreme.", [1], evidence, embedder, Tuning()).supported


def test_a_name_from_the_title_cannot_stand_in_for_the_sentence_s_own(embedder):
    """The title may supply a name the sentence leaves implicit, not replace the one it states."""
    from app.answer import Tuning
    from app.answer.verify import check_sentence

    evidence = _sentences_of(embedder, "The Lions have played 84 Thanksgiving games, the most of any team.",
                             title="NFL on Thanksgiving: a history of the holiday games")
    verdict = check_sentence("The NFL has played 84 Thanksgiving games, the most of any team.", [1], evidence, embedder, Tuning())
    assert not verdict.supported and "in place of" in verdict.reason, verdict
    assert check_sentence("The Lions have played 84 Thanksgiving games in the NFL.", [1], evidence, embedder, Tuning()).supported
    assert check_sentence("The Lions have played 84 Thanksgiving games.", [1], evidence, embedder, Tuning()).supported


def test_quantities_read_a_number_with_its_currency_and_scale():
    from app.answer.verify import quantities

    assert quantities("It cost $5 billion, or 5%.") == {("5", "dollar"), ("5", "billion"), ("5", "percent")}
    assert quantities("5 billion dollars") == quantities("$5bn")
    assert quantities("$21.50") != quantities("21.50 cents")


def test_the_citation_check_cites_the_backing_sentence_that_best_answers_the_question(embedder):
    """Of two sentences that hold a bare answer's words, the one scored as answering the question is its source."""
    from app.answer import Tuning
    from app.answer.verify import check_sentence

    evidence = _sentences_of(embedder, "Gobble and Waddle went viral. The two turkeys pardoned on Tuesday were named Gobble and Waddle.")
    evidence[0].score, evidence[1].score = 0.1, 0.9
    verdict = check_sentence("Gobble and Waddle.", [1], evidence, embedder, Tuning(), "What were the pardoned turkeys named?")
    assert verdict.supported and verdict.source is evidence[1], verdict

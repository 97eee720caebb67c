"""Generative answers with a capable model: refusals honoured, claims checked across sentences,
the judge, and the same answers through a real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest

from app import NewsQA, NewsQAError, Settings
from app.answer import ABSTAIN_TEXT, Tuning
from app.answer.judge import Judge
from app.answer.verify import UNCHECKED, check_sentence

from .conftest import index_records

SUPER_BOWL = [
    {"id": "sb", "title": "Eagles rout Chiefs to win Super Bowl LIX", "source": "Gridiron Daily", "published_at": "2025-02-10",
     "text": "The Philadelphia Eagles won Super Bowl 59 on Sunday, beating the Kansas City Chiefs 40-22. "
             "The game was played at the Caesars Superdome in New Orleans. "
             "The win denied the Chiefs a third straight title. "
             "Jalen Hurts was named the game's most valuable player."},
    {"id": "bake", "title": "Bread prize", "source": "Town Crier", "published_at": "2025-02-08",
     "text": "The Miller Street bakery won the regional bread prize on Tuesday. "
             "The judges did not award a second prize this year."},
]
VENUE = "The Philadelphia Eagles won Super Bowl 59, beating the Kansas City Chiefs 40-22 at the Caesars Superdome in New Orleans [1]."


def _indexed(records: list[dict]):
    """A module fixture: a NewsQA over `records`, indexed once for the module's tests."""

    @pytest.fixture(scope="module")
    def fixture(tmp_path_factory, embedder) -> Iterator[NewsQA]:
        qa = index_records(tmp_path_factory.mktemp("articles"), embedder, records)
        yield qa
        qa.store.close()

    return fixture


games = _indexed(SUPER_BOWL)


def _with_model(qa: NewsQA, model, judge: Judge | None = None) -> NewsQA:
    return NewsQA(qa.settings.data_dir, embedder=qa.embedder, store=qa.store, chat_model=model, judge=judge,
                  retriever=qa.retriever)


def test_a_claim_resting_on_two_sentences_of_a_passage_is_kept_and_cites_both(games, recording_model):
    qa = _with_model(games, recording_model(VENUE))
    a = qa.ask("Which NFL team won Super Bowl LIX?", mode="generative", today="2025-02-11")
    assert not a.abstained and a.text.startswith("The Philadelphia Eagles won Super Bowl 59"), a
    (c,) = a.citations
    assert c.article_id == "sb" and len(c.spans) == 2
    text = SUPER_BOWL[0]["text"]
    quoted = [text[s:e] for s, e in c.spans]
    assert quoted[0].startswith("The Philadelphia Eagles won") and quoted[1].startswith("The game was played at the Caesars")
    assert text[c.start : c.end] == c.quote


def test_a_refusal_is_an_abstention_not_quoted_sources(games, recording_model):
    qa = _with_model(games, recording_model("NOT IN SOURCES"))
    a = qa.ask("Who won the Super Bowl halftime show award?", mode="generative", today="2025-02-11")
    assert a.abstained and a.text.startswith(ABSTAIN_TEXT) and "I searched 2 articles" in a.text
    assert a.citations == [] and any("the model found no answer" in n for n in a.notes)


SB_Q, BREAD_Q = "Which NFL team won Super Bowl LIX?", "Which bakery won the regional bread prize?"


@pytest.mark.parametrize(
    "question,claim,reason",
    [
        (SB_Q, "The Philadelphia Eagles won Super Bowl 59, beating the Kansas City Chiefs 41-22 [1].", "numbers differ"),
        (SB_Q, "The Philadelphia Eagles won Super Bowl 59 at the Caesars Superdome in Miami [1].", "names not in the source"),
        # "22" is in the source ("40-22"), but not as a day of February.
        (SB_Q, "The Philadelphia Eagles won Super Bowl 59 on Feb. 22, beating the Kansas City Chiefs 40-22 [1].", "dates differ"),
        (BREAD_Q, "The Miller Street bakery did not win the regional bread prize [1].", "does not say not"),
        (BREAD_Q, "The Miller Street bakery will win the regional bread prize [1].", "does not say will"),
        (BREAD_Q, "The Miller Street bakery won, and the judges awarded a second prize this year [1].", "the source says not"),
        # The right claim cited to the passage that does not say it.
        (SB_Q, "The Philadelphia Eagles won Super Bowl 59 on Sunday, beating the Kansas City Chiefs 40-22 [2].", "numbers differ"),
    ],
)
def test_a_changed_claim_is_removed_with_its_reason(games, recording_model, question, claim, reason):
    qa = _with_model(games, recording_model(claim))
    a = qa.ask(question, mode="generative", today="2025-02-11")
    assert any(reason in n for n in a.notes), a.notes
    assert all(s.support == "quoted" for s in a.sentences)  # nothing the model wrote is shown


def test_a_date_the_source_gives_by_its_weekday_is_the_same_date(games, recording_model):
    # The article of 2025-02-10 (a Monday) says "on Sunday": February 9.
    qa = _with_model(games, recording_model("The Philadelphia Eagles won Super Bowl 59 on Feb. 9, beating the Kansas City Chiefs 40-22 [1]."))
    a = qa.ask(SB_Q, mode="generative", today="2025-02-11")
    assert a.sentences[0].support == "supported" and a.text.startswith("The Philadelphia Eagles won Super Bowl 59 on Feb. 9"), a


def test_a_sentence_that_loops_is_removed(games, recording_model):
    loop = ("The Philadelphia Eagles won Super Bowl 59 and the Kansas City Chiefs lost, and the Kansas City "
            "Chiefs lost to the Philadelphia Eagles [1].")
    qa = _with_model(games, recording_model(loop))
    a = qa.ask(SB_Q, mode="generative", today="2025-02-11")
    assert any("repeats itself" in n for n in a.notes), a.notes
    assert all(s.support == "quoted" for s in a.sentences)


def test_a_passage_heading_echoed_by_the_model_is_no_claim(games, recording_model):
    qa = _with_model(games, recording_model(
        "Bread prize (Town Crier, 2025-02-08) [1]. The Miller Street bakery won the regional bread prize on Tuesday [1]."))
    a = qa.ask(BREAD_Q, mode="generative", today="2025-02-11")
    assert [s.text for s in a.sentences] == ["The Miller Street bakery won the regional bread prize on Tuesday."], a
    assert any("repeats a passage's heading" in n for n in a.notes), a.notes


def test_a_sentence_that_restates_the_question_says_nothing(games, recording_model):
    qa = _with_model(games, recording_model("The bakery won the regional bread prize [2]."))
    a = qa.ask("Which bakery won the regional bread prize?", mode="generative", today="2025-02-11")
    assert any("restates the question" in n for n in a.notes)
    assert "Miller Street" in a.text  # the sources are quoted instead: the model said nothing


class _Verdicts:
    """A judge's chat model: replies with a fixed verdict (or fails) and counts the calls."""

    def __init__(self, reply: str | None) -> None:
        self.reply, self.calls = reply, 0

    def invoke(self, messages):
        self.calls += 1
        if self.reply is None:
            raise ConnectionError("judge server down")
        from langchain_core.messages import AIMessage

        return AIMessage(content=self.reply)


def test_the_judge_decides_what_the_cheap_check_cannot_and_fails_closed(games):
    evidence = games.scorer.score("Was there a second prize?", games.scorer.sentences(games.retriever.retrieve("bread prize judges", 6)))
    claim = "The judges handed out no second prize this year."  # "handed out" for "award": a paraphrase too far to call
    alone = check_sentence(claim, [], evidence, games.scorer, Tuning(), "Was there a second prize?")
    assert not alone.supported and not alone.settled, alone
    for reply, kept in (("SUPPORTED", True), ("UNSUPPORTED", False), (None, False), ("I think so", False)):
        model = _Verdicts(reply)
        verdict = check_sentence(claim, [], evidence, games.scorer, Tuning(), "Was there a second prize?", Judge(model))
        assert verdict.supported is kept and model.calls == 1, (reply, verdict)
    # A settled refusal never reaches the judge.
    model = _Verdicts("SUPPORTED")
    wrong = check_sentence("The judges awarded 3 prizes.", [], evidence, games.scorer, Tuning(), "", Judge(model))
    assert not wrong.supported and model.calls == 0


STORM = [
    {"id": "storm", "title": "Hurricane Melissa tears through the Caribbean", "source": "Island Wire", "published_at": "2025-10-30",
     "text": "Hurricane Melissa made landfall on Tuesday as a Category 5 storm. "
             "The hardest-hit areas include Jamaica, Cuba, and Haiti, where storm surge destroyed homes. "
             "\"Entire communities are marooned,\" said the Jamaican Minister of Education, Dana Dixon. "
             "\"We are going to get to every single Jamaican and give them support.\""},
]
storm = _indexed(STORM)
STORM_Q = "Which country was among the hardest hit when Hurricane Melissa tore through the Caribbean?"


def test_a_name_from_another_sentence_beside_one_left_out_is_the_judges_to_confirm(storm):
    evidence = storm.scorer.score(STORM_Q, storm.scorer.sentences(storm.retriever.retrieve(STORM_Q, 6)))
    # "Education", from the minister's title, where the sentence carrying the claim names Haiti: a
    # swap the rest of the wording hides. The cheap check keeps it (the names it reads are all there).
    swap = "Jamaica was among the hardest-hit countries, along with Cuba and Education."
    alone = check_sentence(swap, [1], evidence, storm.scorer, Tuning(), STORM_Q)
    assert alone.supported and "education" in alone.doubt and "haiti" in alone.doubt, alone
    for reply in ("SUPPORTED", "UNSUPPORTED", None):  # None: the judge is down, and fails closed
        model = _Verdicts(reply)
        judged = check_sentence(swap, [1], evidence, storm.scorer, Tuning(), STORM_Q, Judge(model))
        assert model.calls == 1 and judged.judged and judged.supported is (reply == "SUPPORTED"), (reply, judged)
    # The true sentence, and one whose other names come from sentences beside it while the one
    # carrying it loses none of its own, are not asked about.
    for claim in ("Jamaica was among the hardest-hit countries, along with Cuba and Haiti.",
                  "Jamaica, Cuba and Haiti were the hardest-hit areas of the Category 5 storm."):
        model = _Verdicts("UNSUPPORTED")
        plain = check_sentence(claim, [1], evidence, storm.scorer, Tuning(), STORM_Q, Judge(model))
        assert plain.supported and not plain.doubt and model.calls == 0, plain


def test_generative_is_the_default_with_a_model_of_ones_own_and_the_bundled_model_never_judges(tmp_path, embedder):
    assert Settings.load().mode == "extractive"
    assert Settings.load(llm="openai:qwen2.5").mode == "generative"
    assert Settings.load(llm="openai:qwen2.5", mode="extractive").mode == "extractive"
    with pytest.raises(NewsQAError, match="bundled SmolLM2"):
        NewsQA(settings=Settings.load(data_dir=tmp_path / "d", judge="same"), embedder=embedder).judge  # noqa: B018 (the property builds it)
    with pytest.raises(NewsQAError, match="bundled SmolLM2"):
        NewsQA(settings=Settings.load(data_dir=tmp_path / "e", judge="llamacpp"), embedder=embedder).judge  # noqa: B018


def test_choice_questions_go_to_the_model_in_generative_mode(games, recording_model):
    model = recording_model("The Philadelphia Eagles won Super Bowl 59 on Sunday [1].")
    qa = _with_model(games, model)
    q = "Which team won Super Bowl LIX? Is it the Kansas City Chiefs or the Philadelphia Eagles?"
    a = qa.ask(q, mode="generative", choices=True, today="2025-02-11")
    assert model.prompts and "Is it the Kansas City Chiefs or the Philadelphia Eagles?" in model.prompts[0][-1].content
    assert a.sentences[0].support == "supported" and a.text.startswith("The Philadelphia Eagles")


COURT = [
    {"id": "plea", "title": "Crypto founder pleads", "source": "Court Wire", "published_at": "2023-10-02",
     "text": "SBF, as he is known, has pleaded not guilty to seven charges of fraud. "
             "The Federal Reserve held interest rates steady on Wednesday."},
    {"id": "trial", "title": "Trial opens", "source": "Daily Ledger", "published_at": "2023-10-04",
     "text": "The trial of Sam Bankman-Fried opened on Tuesday in Manhattan. "
             "Caroline Ellison is expected to testify for the prosecution. Judge Lewis Kaplan presides over the case."},
]


court = _indexed(COURT)


def _check(qa: NewsQA, question: str, claim: str, cited: list[int]):
    evidence = qa.scorer.score(question, qa.scorer.sentences(qa.retriever.retrieve(question, 10)))
    order = {e.passage.article_id: e.rank + 1 for e in evidence}
    return check_sentence(claim, [order[a] for a in cited], evidence, qa.scorer, Tuning(), question)


@pytest.mark.parametrize(
    "claim,cited,kept",
    [
        # A name the source shortens: its initials, a short form, or the full name another passage writes.
        ("Sam Bankman-Fried has pleaded not guilty to seven charges of fraud.", ["plea"], True),
        ("Sam Bankman-Frank has pleaded not guilty to seven charges of fraud.", ["plea"], False),
        ("The Fed held interest rates steady on Wednesday.", ["plea"], True),
        ("The Feb held interest rates steady on Wednesday.", ["plea"], False),
        ("The trial of Bankman-Fried opened on Tuesday in Manhattan.", ["trial"], True),
        # Two of the source's names made into one it never writes: a swap.
        ("Caroline Kaplan is expected to testify for the prosecution.", ["trial"], "writes otherwise: caroline kaplan"),
        ("The trial of Sam Ellison opened on Tuesday in Manhattan.", ["trial"], "writes otherwise: sam ellison"),
        # A name written with a word left out is the source's, in short.
        ("Judge Kaplan presides over the case, and Caroline Ellison is expected to testify for the prosecution.", ["trial"], True),
        # Half of a name the sources only write whole is no name of theirs.
        ("The trial of Sam Bankman opened on Tuesday in Manhattan.", ["trial"], "write whole: Bankman (Bankman-Fried)"),
    ],
)
def test_a_name_written_in_another_form_is_the_same_name(court, claim, cited, kept):
    verdict = _check(court, "What has the crypto founder pleaded, and when did his trial open?", claim, cited)
    assert verdict.supported is (kept is True), verdict
    assert isinstance(kept, bool) or kept in verdict.reason, verdict


@pytest.mark.parametrize(
    "claim,cited,kept,reason",
    [
        # What an article leaves out is checked as an absence; the rest of the sentence as any claim.
        ("No, the Court Wire article does not name the judge; it says SBF has pleaded not guilty to seven charges of fraud.",
         ["plea"], True, ""),
        ("The Daily Ledger passage says the trial opened on Tuesday, but it does not mention a verdict.", ["trial"], True, ""),
        ("The Daily Ledger article does not mention Caroline Ellison.", ["trial"], False, "does state what it says is not there"),
        # The same absence said with "no".
        ("The Daily Ledger passage gives no verdict, and the trial of Bankman-Fried opened on Tuesday in Manhattan.",
         ["trial"], True, ""),
        ("The Daily Ledger article makes no mention of Caroline Ellison.", ["trial"], False, "does state what it says is not there"),
        ("No, the Court Wire article does not name the judge; it says SBF has pleaded guilty to nine charges.",
         ["plea"], False, "numbers differ"),
    ],
)
def test_a_claim_about_what_an_article_leaves_out_is_checked_as_an_absence(court, claim, cited, kept, reason):
    verdict = _check(court, "Does the Court Wire article name the judge in the crypto founder's trial?", claim, cited)
    assert verdict.supported is kept and reason in verdict.reason, verdict


NOTES = [
    {"id": "pope", "title": "A new pope", "source": "Rome Desk", "published_at": "2025-05-08",
     "text": "Leo, formerly Cardinal Robert Prevost, was born in Chicago and has dual Peruvian-American nationality "
             "after spending much of his career working there."},
    {"id": "moon", "title": "November sky", "source": "Sky Notes", "published_at": "2025-11-01",
     "text": "The November full moon has been referred to as Beaver Moon."},
    {"id": "supermoon", "title": "What is a supermoon?", "source": "Star Desk", "published_at": "2025-10-06",
     "text": "A supermoon happens when the moon's orbit is closest to the Earth at the same time the moon is full."},
    {"id": "checks", "title": "Checks for troops", "source": "Capitol Wire", "published_at": "2025-12-16",
     "text": "Trump suggested that the military checks, not unlike the dividend checks he promised earlier, would be paid from tariffs."},
    {"id": "bread", "title": "Bakery wins", "source": "Valley Gazette", "published_at": "2024-05-02",
     "text": "The Miller Street bakery won the regional bread prize on Thursday for its rye loaf."},
    {"id": "bridge", "title": "Bridge reopens", "source": "Daily Post", "published_at": "2024-02-20",
     "text": "The Velkovo bridge reopened to traffic on Friday after a year of works. Its new deck will carry 40 tonnes."},
    {"id": "pill", "title": "Painkiller and autism", "source": "Health Wire", "published_at": "2025-09-22",
     "text": "President Trump spoke about autism on Monday. "
             "Officials said the use of acetaminophen, the active ingredient in Tylenol, is associated with a risk of autism."},
]


notes = _indexed(NOTES)


@pytest.mark.parametrize(
    "question,claim,cited,kept",
    [
        # A light verb is the relation its neighbours carry: "holds" for "has" dual nationality.
        ("What nationality does the new pope have?", "Leo holds dual Peruvian-American nationality.", ["pope"], True),
        ("What nationality does the new pope have?", "Leo holds dual Peruvian-Mexican nationality.", ["pope"], False),
        # "known as" for "referred to as"; the name itself must still be the source's.
        ("What is November's full moon called?", "The November full moon is known as the Beaver Moon.", ["moon"], True),
        ("What is November's full moon called?", "The November full moon is known as the Harvest Moon.", ["moon"], False),
        # "the moon's orbit" is not a part of the name "Beaver Moon" another sentence writes out.
        ("What is November's supermoon called?", "November's supermoon is known as the Beaver Moon.", ["moon"], True),
        ("What is November's supermoon called?", "November's supermoon is known as the Beaver Moon.", ["supermoon"], False),
        # "not unlike" makes a likeness, so it backs no "not".
        ("Where will the military checks come from?", "Trump suggested the military checks would be paid from tariffs.",
         ["checks"], True),
        ("Where will the military checks come from?", "Trump suggested the military checks would not be paid from tariffs.",
         ["checks"], False),
        # Modality comes from the passage that carries the claim, not from another article's "would".
        ("Which bakery won the bread prize?", "The Miller Street bakery will win the regional bread prize on Thursday.",
         ["bread", "checks"], False),
        ("How much can the Velkovo bridge carry?", "The Velkovo bridge, which reopened on Friday, will carry 40 tonnes.",
         ["bridge"], True),
    ],
)
def test_a_paraphrase_is_kept_and_a_changed_fact_is_not(notes, question, claim, cited, kept):
    verdict = _check(notes, question, claim, cited)
    assert verdict.supported is kept, verdict


def test_a_short_sentence_after_a_kept_one_is_about_what_that_one_names(notes, recording_model):
    question = "Which medication has President Trump linked to autism?"
    alone = _check(notes, question, "Its active ingredient is acetaminophen.", ["pill"])
    assert not alone.supported and "bare answer" in alone.reason, alone
    qa = _with_model(notes, recording_model("President Trump linked Tylenol to autism [1]. Its active ingredient is acetaminophen [1]."))
    answer = qa.ask(question, mode="generative")
    assert [s.text for s in answer.sentences] == ["President Trump linked Tylenol to autism.", "Its active ingredient is acetaminophen."], answer


REVIEWS = [
    {"id": "polygon", "title": "The Steam Deck OLED improves much more than its screen", "source": "Polygon",
     "published_at": "2023-11-09",
     "text": "Valve has made around 300 hardware updates to the Steam Deck since it launched. "
             "The new model also gets a gaggle of minor physical upgrades."},
    {"id": "engadget", "title": "Steam Deck OLED review: It's just better", "source": "Engadget", "published_at": "2023-11-09",
     "text": "The Steam Deck OLED goes on sale on November 16th. Its screen is brighter and its battery lasts longer than the original's."},
]
CONSISTENT_Q = "Between the Polygon report and Engadget's review of the Steam Deck OLED, is there consistency in how they describe it?"


reviews = _indexed(REVIEWS)


def test_a_comparison_citing_one_outlet_is_checked_against_the_other_it_names(reviews):
    # Engadget's date is in its own article's head: the facts agree, and only a judge can say
    # whether "the same date" is what the two heads make.
    claim = "The Polygon report was published on November 9, 2023, the same date as Engadget's review."
    verdict = _check(reviews, CONSISTENT_Q, claim, ["polygon"])
    assert not verdict.supported and not verdict.settled and "outlets and dates" in verdict.reason, verdict
    assert {e.passage.article_id for e in verdict.support} == {"polygon", "engadget"}
    evidence = reviews.scorer.score(CONSISTENT_Q, reviews.scorer.sentences(reviews.retriever.retrieve(CONSISTENT_Q, 6)))
    cited = [e.rank + 1 for e in evidence if e.passage.article_id == "polygon"][:1]
    judged = check_sentence(claim, cited, evidence, reviews.scorer, Tuning(), CONSISTENT_Q, Judge(_Verdicts("SUPPORTED")))
    assert judged.supported and {e.passage.article_id for e in judged.support} == {"polygon", "engadget"}, judged
    wrong = _check(reviews, CONSISTENT_Q, claim.replace("November 9", "November 12"), ["polygon"])
    assert not wrong.supported and wrong.settled and "dates differ" in wrong.reason, wrong
    # Naming one outlet while citing another's article is a wrong citation, not a short one.
    moved = _check(reviews, CONSISTENT_Q, "Engadget says its screen is brighter and its battery lasts longer.", ["polygon"])
    assert not moved.supported, moved


@pytest.mark.parametrize(
    "claim,kept",
    [
        ("Valve has made around 300 hardware updates to the Steam Deck since it launched.", True),
        # 300 counts updates in its sentence; "screen" is the title's: no source counts 300 screens.
        ("Valve has made around 300 screen upgrades to the Steam Deck since it launched.", False),
    ],
)
def test_a_number_counts_what_its_source_sentence_counts(reviews, claim, kept):
    verdict = _check(reviews, "How many hardware updates has Valve made to the Steam Deck?", claim, ["polygon"])
    assert verdict.supported is kept and (kept or "no source counts 300 screen" in verdict.reason), verdict


GROUNDS = "Polygon says Valve has made around 300 hardware updates to the Steam Deck since it launched [1][2]."


@pytest.mark.parametrize(
    "reply,verdict",
    [
        # A judgment no sentence states, then its checked grounds: the model's "Yes" is shown, marked.
        ("Yes, both outlets present the new Steam Deck as a clear step forward for handheld gaming [1][2]. " + GROUNDS, "Yes"),
        ("Largely yes; both outlets present the new Steam Deck as a clear step forward for handheld gaming [1][2]. " + GROUNDS,
         "Largely yes"),
        # A sentence the check refutes (a number the sources don't give) carries no verdict.
        ("Yes, both outlets count 500 hardware updates to the Steam Deck [1][2]. " + GROUNDS, None),
        # Nothing checked follows: the verdict has no grounds to stand on.
        ("Yes, both outlets present the new Steam Deck as a clear step forward for handheld gaming [1][2].", None),
    ],
)
def test_a_yes_no_verdict_the_check_cannot_settle_is_shown_marked_unchecked(reviews, recording_model, reply, verdict):
    a = _with_model(reviews, recording_model(reply)).ask(CONSISTENT_Q, mode="generative", today="2023-11-20")
    if verdict is None:
        assert "unchecked" not in a.text and not a.text.startswith("Yes"), a
        assert all(s.support != "verdict" for s in a.sentences)
        return
    first, *rest = a.sentences
    assert first.support == "verdict" and first.citations == [] and a.text.startswith(f"{verdict} {UNCHECKED}. "), a
    assert rest and all(s.support == "supported" and s.citations for s in rest), a
    assert any("clear step forward" in n for n in a.notes)  # the judgment itself is removed, and said so


class _JudgesTheAnswer:
    """A judge's chat model that finds the bare answer to the question supported (when `answer` is
    True), and no claim worded as a judgment; it records each claim it was asked about."""

    def __init__(self, answer: bool) -> None:
        self.answer, self.claims = answer, []

    def invoke(self, messages):
        from langchain_core.messages import AIMessage

        claim = messages[-1].content.rsplit("Claim: ", 1)[1].split("\n", 1)[0]
        self.claims.append(claim)
        return AIMessage(content="SUPPORTED" if self.answer and claim.startswith("The answer to the question") else "UNSUPPORTED")


def test_the_judge_reads_every_passage_a_claim_cites(reviews):
    # The check rests this claim on Polygon's sentences alone; it cites Engadget too, whose
    # review is what calls the new model better: the judge is shown both passages.
    claim = "Valve keeps improving the Steam Deck, and the new model is a clear step forward."
    evidence = reviews.scorer.score(CONSISTENT_Q, reviews.scorer.sentences(reviews.retriever.retrieve(CONSISTENT_Q, 6)))
    cited = sorted({next(e.rank + 1 for e in evidence if e.passage.article_id == a) for a in ("polygon", "engadget")})
    model = _JudgesTheAnswer(False)
    shown = []
    model.invoke = (lambda invoke: lambda messages: shown.append(messages[-1].content) or invoke(messages))(model.invoke)
    check = check_sentence(claim, cited, evidence, reviews.scorer, Tuning(), CONSISTENT_Q, Judge(model))
    assert shown and not check.supported, check
    assert "300 hardware updates" in shown[0] and "goes on sale on November 16th" in shown[0], shown[0]
    # Found, it is cited to every passage the judge read.
    judged = check_sentence(claim, cited, evidence, reviews.scorer, Tuning(), CONSISTENT_Q, Judge(_Verdicts("SUPPORTED")))
    assert judged.supported and {e.passage.article_id for e in judged.support} == {"polygon", "engadget"}, judged


@pytest.mark.parametrize(
    "reply,answer,shown",
    [
        # The judge refuses the judgment as worded but finds the sources answer the question yes.
        ("Yes, both outlets present the new Steam Deck as a clear step forward for handheld gaming [1][2]. " + GROUNDS, True, "Yes"),
        ("Largely yes; both outlets present the new Steam Deck as a clear step forward for handheld gaming [1][2].", True,
         "Largely yes"),
        # The judge finds the sources do not answer it: no verdict at all.
        ("Yes, both outlets present the new Steam Deck as a clear step forward for handheld gaming [1][2]. " + GROUNDS, False, None),
        # The check refutes the sentence (a number the sources don't give): the judge is never asked.
        ("Yes, both outlets count 500 hardware updates to the Steam Deck [1][2]. " + GROUNDS, True, None),
    ],
)
def test_with_a_judge_the_bare_yes_or_no_is_judged_against_the_question(reviews, recording_model, reply, answer, shown):
    model = _JudgesTheAnswer(answer)
    a = _with_model(reviews, recording_model(reply), Judge(model)).ask(CONSISTENT_Q, mode="generative", today="2023-11-20")
    assert all(s.support != "verdict" for s in a.sentences), a  # a judge decides: nothing is shown unchecked
    asked = [c for c in model.claims if c.startswith("The answer to the question")]
    if "500" in reply:
        assert not asked and not a.text.startswith("Yes"), (model.claims, a)
        return
    assert asked == [f'The answer to the question "{CONSISTENT_Q}" is: {shown or "Yes"}.'], model.claims
    if shown is None:
        assert not a.text.startswith("Yes"), a
        return
    first = a.sentences[0]
    assert first.text == f"{shown}." and first.support == "supported", a
    assert {a.citations[n - 1].article_id for n in first.citations} == {"polygon", "engadget"}, a


def test_no_verdict_is_shown_for_other_questions_or_from_the_bundled_model(reviews, recording_model, embedder):
    reply = "Yes, both outlets present the new Steam Deck as a clear step forward for handheld gaming [1][2]. " + GROUNDS
    a = _with_model(reviews, recording_model(reply)).ask("How many hardware updates has Valve made to the Steam Deck?",
                                                          mode="generative", today="2023-11-20")
    assert a.sentences and all(s.support == "supported" for s in a.sentences), a
    from app.backends import LlamaCppChat, bundled_gguf

    bundled = NewsQA(reviews.settings.data_dir, embedder=embedder, store=reviews.store, retriever=reviews.retriever,
                     chat_model=LlamaCppChat(model_path=bundled_gguf()))
    assert bundled._capable_model() is False and _with_model(reviews, recording_model(reply))._capable_model() is True


WIDER = [
    {"id": "vote", "title": "Dunmore has a new mayor", "source": "Valley Gazette", "published_at": "2025-11-05",
     "text": "Maria Ortiz made history on Tuesday as the first Green Party mayor of Dunmore. "
             "Raised in Lisbon, she beat Paul Reyes in the party primary this summer. "
             "This week she again defeated Reyes and the independent candidate Tom Hale."},
    {"id": "desk", "title": "The trading desk on trial", "source": "Court Wire", "published_at": "2023-10-26",
     "text": "Wang testified that the founder told a trader it was okay to keep withdrawing money as long as the amount "
             "stayed below the exchange's revenue."},
    {"id": "bets", "title": "Best bets for Travis Kelce props in the Chiefs-Jets Week 4 game", "source": "Sporting Wire",
     "published_at": "2023-09-28",
     "text": "For bettors, where there is hype, there is also an opportunity to make some money."},
    {"id": "campus", "title": "Shooting at a university", "source": "Mountain News", "published_at": "2025-09-11",
     "text": "Charlie Kirk was shot while speaking at Utah Valley University in Orem. Across the country, Americans mourned him."},
    {"id": "tour", "title": "Tour plans", "source": "Mountain News", "published_at": "2025-09-01",
     "text": "The American Comeback Tour had stops planned in ten states."},
]


wider = _indexed(WIDER)


@pytest.mark.parametrize(
    "question,claim,cited,kept",
    [
        # Names another sentence lends with its own words ("defeating ... Tom Hale" from "defeated
        # ... Tom Hale") join that sentence's fact; a name swapped in among the primary sentence's
        # words is put in place of the one it states.
        ("Who was elected mayor of Dunmore?", "Maria Ortiz was elected mayor of Dunmore on Tuesday, defeating Paul Reyes and Tom Hale.",
         ["vote"], True),
        ("Who was elected mayor of Dunmore?", "Maria Ortiz was elected the first mayor of Tom Hale on Tuesday.", ["vote"], False),
        # Permission is possibility, readiness is "will": "okay to keep withdrawing" backs "could keep withdrawing".
        ("What did Wang testify about withdrawals?",
         "Wang testified that the founder said a trader could keep withdrawing money as long as the amount stayed below the exchange's revenue.",
         ["desk"], True),
        ("What did Wang testify about withdrawals?",
         "Wang testified that the founder said a trader should keep withdrawing money as long as the amount stayed below the exchange's revenue.",
         ["desk"], False),
        # The headline is part of what an article states.
        ("What does the Sporting Wire article cover?",
         "The Sporting Wire article covers best bets for Travis Kelce props in the Chiefs-Jets Week 4 game.", ["bets"], True),
        ("What does the Sporting Wire article cover?",
         "The Sporting Wire article covers best bets for Travis Kelce props in the Chiefs-Jets Week 5 game.", ["bets"], False),
        # "Americans" in the cited text does not make "American Comeback Tour", written in another
        # article, a form of a name it gives.
        ("Where was Charlie Kirk shot?", "Charlie Kirk was shot while speaking at Utah Valley University in Orem.", ["campus"], True),
        ("Where was Charlie Kirk shot?", "Charlie Kirk was shot while speaking at American Comeback Tour in Orem.", ["campus"], False),
    ],
)
def test_what_a_claim_may_rest_on_and_what_it_may_not(wider, question, claim, cited, kept):
    verdict = _check(wider, question, claim, cited)
    assert verdict.supported is kept, verdict


# --- a real OpenAI-compatible server on 127.0.0.1 ---------------------------------------------


class _Scripted(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible chat server with a capable model's answers, chosen by the prompt's question."""

    answers: dict[str, str] = {}
    seen: list[dict] = []

    def do_POST(self) -> None:
        req = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        type(self).seen.append(req)
        user = req["messages"][-1]["content"]
        text = next((a for q, a in self.answers.items() if f"Question: {q}" in user), "NOT IN SOURCES")
        if req.get("stream"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            for word in text.split(" "):
                piece = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "capable",
                         "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(piece)}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.005)
            self.wfile.write(b"data: [DONE]\n\n")
            return
        body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "capable",
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def capable_server() -> Iterator[str]:
    _Scripted.answers = {
        "Which NFL team won Super Bowl LIX?": VENUE + " Jalen Hurts was named the game's most valuable player [1].",
        "Who sang the national anthem at Super Bowl LIX?": "NOT IN SOURCES",
    }
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/v1"
    srv.shutdown()


def test_generative_answers_through_a_real_openai_compatible_server(games, capable_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    qa = NewsQA(games.settings.data_dir, embedder=games.embedder, store=games.store, retriever=games.retriever,
                llm="openai:capable", llm_base_url=capable_server, llm_retries=0)
    assert qa.settings.mode == "generative"  # a model of one's own writes the answer
    pieces = list(qa.stream("Which NFL team won Super Bowl LIX?", today="2025-02-11"))
    a = pieces[-1]
    assert [p for p in pieces[:-1] if isinstance(p, str)], "the checked sentences stream in"
    assert a.text.startswith("The Philadelphia Eagles won Super Bowl 59") and "Jalen Hurts" in a.text, a
    assert a.warnings == [] and all(s.support == "supported" for s in a.sentences)
    assert _Scripted.seen[-1]["stream"] is True
    refused = qa.ask("Who sang the national anthem at Super Bowl LIX?", today="2025-02-11")
    assert refused.abstained and refused.citations == [] and "I searched 2 articles" in refused.text

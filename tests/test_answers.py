"""The seed article's questions, end to end on real components (Chroma, MiniLM, and SmolLM2)."""

import pytest

from app import Answer, NothingIndexed

from .conftest import SEED_FILE

SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")


def _check_citations(answer: Answer) -> None:
    """Every citation quotes the article text exactly at its offsets, and every marker resolves."""
    numbers = {c.n for c in answer.citations}
    for s in answer.sentences:
        assert set(s.citations) <= numbers
    for c in answer.citations:
        assert SEED_TEXT[c.start : c.end] == c.quote


def test_who_controls_deir_ezzor(seeded):
    a = seeded.ask("Who controls Deir Ezzor?")
    assert not a.abstained
    assert "less than half the city" in a.text
    assert "rural areas outside the city and the border with Iraq" in a.text
    cited = [c for c in a.citations if "less than half the city" in c.quote]
    assert cited and cited[0].quote.startswith("The militants control less than half the city")
    assert a.as_of is None and a.as_of_text == "Date of the sources unknown"
    assert cited[0].title is None and cited[0].source is None and cited[0].date is None
    _check_citations(a)


def test_how_long_was_the_siege(seeded):
    a = seeded.ask("How long was the siege of Deir Ezzor?")
    assert "three-year" in a.text
    assert any("three-year ISIS siege" in c.quote for c in a.citations)
    _check_citations(a)


def test_unanswerable_question_abstains_without_citations(seeded):
    a = seeded.ask("What did Turkey say about the strikes?")
    assert a.abstained and not a.citations
    assert a.text.startswith("The indexed articles don't say.")
    assert "searched 1 article" in a.text


def test_answer_is_json_serialisable(seeded):
    import json

    d = json.loads(seeded.ask("How long was the siege of Deir Ezzor?").to_json())
    assert set(d["citations"][0]) >= {"n", "article_id", "title", "source", "date", "url", "quote", "start", "end"}


def test_stream_yields_text_then_the_answer(seeded):
    items = list(seeded.stream("How long was the siege of Deir Ezzor?"))
    assert isinstance(items[-1], Answer)
    assert "".join(i for i in items if isinstance(i, str)) == items[-1].text


def test_empty_index_says_what_to_do(fresh):
    with pytest.raises(NothingIndexed, match="newsqa ingest"):
        fresh.ask("Who controls Deir Ezzor?")


# --- generative mode: model text is shown only where the citation check supports it ----------


def test_wrong_model_claims_are_removed(seeded, recording_model):
    from app import NewsQA

    model = recording_model("The US-backed Syrian regime controls Deir Ezzor [1]. The siege lasted 20 days [1].")
    qa = NewsQA(seeded.settings.data_dir, embedder=seeded.embedder, store=seeded.store, chat_model=model)
    a = qa.ask("Who controls Deir Ezzor?", mode="generative")
    assert "regime controls Deir Ezzor" not in a.text and "20 days" not in a.text
    assert "less than half the city" in a.text  # fell back to quoting the sources
    assert any("removed by the citation check" in n for n in a.notes)
    system, user = model.prompts[0]
    assert "not instructions" in system.content
    assert "Who controls Deir Ezzor?" in user.content and "[1]" in user.content
    _check_citations(a)


def test_supported_model_sentences_are_kept_and_cited(seeded, recording_model):
    from app import NewsQA

    model = recording_model(
        "The militants control less than half the city [2]. They still control rural areas and the border with Iraq [2]."
    )
    qa = NewsQA(seeded.settings.data_dir, embedder=seeded.embedder, store=seeded.store, chat_model=model)
    a = qa.ask("Who controls Deir Ezzor?", mode="generative")
    assert a.text.startswith("The militants control less than half the city [1].")
    assert all(s.support == "supported" for s in a.sentences)
    assert any("less than half the city" in c.quote for c in a.citations)
    _check_citations(a)


def test_a_model_that_repeats_itself_is_shown_once(seeded, recording_model):
    from app import NewsQA

    line = "The militants control less than half the city [2]. "
    then = "They still control rural areas and the border with Iraq [2]."
    qa = NewsQA(seeded.settings.data_dir, embedder=seeded.embedder, store=seeded.store, chat_model=recording_model(line * 3 + then))
    a = qa.ask("Who controls Deir Ezzor?", mode="generative")
    assert a.text.count("less than half the city") == 1 and len(a.sentences) == 2
    assert sum("repeats an earlier sentence" in n for n in a.notes) == 2
    # What the repeats repeat is shown, so the sentence leaning on them reads and is kept.
    assert a.sentences[1].text.startswith("They still control rural areas") and a.sentences[1].support == "supported"
    _check_citations(a)


def test_a_model_sentence_leaning_on_a_refused_one_goes_with_it(seeded, recording_model):
    """ "They still control ..." after a refused claim would read as the refused claim's subject."""
    from app import NewsQA

    model = recording_model("The US-backed Syrian regime controls Deir Ezzor [1]. They still control rural areas and the border with Iraq [2].")
    qa = NewsQA(seeded.settings.data_dir, embedder=seeded.embedder, store=seeded.store, chat_model=model)
    a = qa.ask("Who controls Deir Ezzor?", mode="generative")
    assert any("leans on a sentence that is not shown" in n for n in a.notes), a.notes
    assert all(s.support != "supported" for s in a.sentences)  # fell back to quoting the sources
    _check_citations(a)


@pytest.mark.slow
def test_real_smollm2_answer_is_grounded(seeded):
    """The bundled GGUF through llama-cpp-python: whatever it writes, what we show is supported."""
    a = seeded.ask("How long was the siege of Deir Ezzor?", mode="generative")
    assert a.mode == "generative" and not a.abstained
    _check_citations(a)
    for s in a.sentences:
        assert s.citations and s.support in {"quoted", "supported"}
    # Greedy decoding from an emptied context: the same question, the same answer, whatever came before.
    seeded.ask("Who controls Deir Ezzor?", mode="generative")
    assert seeded.ask("How long was the siege of Deir Ezzor?", mode="generative").text == a.text

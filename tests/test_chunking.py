from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.chunking import chunk_article, split_sentences

from .conftest import SEED_FILE


def test_sentences_keep_abbreviations_and_quotes():
    text = 'Mr. Smith met U.S. officials in Washington D.C. on Monday. "It is done." She left.'
    got = [text[a:b] for a, b in split_sentences(text)]
    assert got == ['Mr. Smith met U.S. officials in Washington D.C. on Monday.', '"It is done."', "She left."]


def test_line_breaks_end_sentences():
    text = "The Independent notes:\nThe militants control less than half the city."
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "The Independent notes:",
        "The militants control less than half the city.",
    ]


def test_chunks_are_whole_sentences_with_exact_offsets():
    text = SEED_FILE.read_text(encoding="utf-8")
    chunks = chunk_article("a", text, max_chars=500)
    assert len(chunks) > 3
    sentences = split_sentences(text)
    starts, ends = {a for a, _ in sentences}, {b for _, b in sentences}
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.start in starts and c.end in ends
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert len({c.id for c in chunks}) == len(chunks)


def test_a_long_line_without_spaces_is_cut():
    text = "x" * 5000
    chunks = chunk_article("a", text, max_chars=900)
    assert all(len(c.text) <= 900 for c in chunks)
    assert "".join(c.text for c in chunks) == text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000))
def test_offsets_hold_for_any_text(text):
    for c in chunk_article("a", text, max_chars=300):
        assert text[c.start : c.end] == c.text
        assert c.text.strip() == c.text and c.text

"""Words as the keyword index and the citation check see them: lower-cased, light-stemmed, no stopwords."""

from __future__ import annotations

import re
import unicodedata

STOPWORDS = frozenset(
    ["a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves", "says", "said", "say", "according", "one", "s", "t", "ve", "ll", "d", "re", "m"]
)
QUESTION_WORDS = frozenset(["what", "which", "who", "whom", "whose", "when", "where", "why", "how", "is", "are", "was", "were", "do", "does", "did"])

MONTHS = {m: i for i, m in enumerate(
    "january february march april may june july august september october november december".split(), start=1)}

# A word, with what follows an apostrophe matched but left out of the group ("kremlin’s" -> "kremlin").
_WORD = re.compile(r"([^\W_]+)(?:['’][^\W_]+)?", re.UNICODE)


def fold(text: str) -> str:
    """Lower case without accents, so 'Zürich' and 'Zurich' meet."""
    text = text.lower()
    if text.isascii():
        return text  # NFKD leaves ASCII as it is, and it has no combining marks
    text = unicodedata.normalize("NFKD", text)
    # The marks are found among the text's distinct characters, not looked up once per character.
    marks = {ord(c): None for c in set(text) if unicodedata.combining(c)}
    return text.translate(marks) if marks else text


def stem(word: str) -> str:
    """A light suffix stripper: enough to match 'controls'/'control', 'strikes'/'strike'."""
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ied", "y")):
        if word.endswith(suffix):
            return word[: -len(suffix)] + keep
    for suffix in ("ingly", "edly", "ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            base = word[: -len(suffix)]
            if suffix in ("ing", "ed") and len(base) > 3 and base[-1] == base[-2]:
                base = base[:-1]  # "stopped" -> "stop"
            return base
    return word


def words(text: str) -> list[str]:
    """Folded words in order, apostrophes removed ("Kremlin’s" -> "kremlin")."""
    return _WORD.findall(fold(text))


def terms(text: str) -> list[str]:
    """Index terms: folded, stopwords dropped, stemmed."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


def numbers(text: str) -> set[str]:
    """Numbers as written, normalised ('27,000' -> '27000', '3.0' -> '3')."""
    out = set()
    for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text):
        n = n.replace(",", "")
        if "." in n:
            n = n.rstrip("0").rstrip(".")
        out.add(n)
    return out

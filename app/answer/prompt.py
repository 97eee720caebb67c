"""What the model is shown: the prompt's numbered passages, with article text made inert.

Article text is data, never instructions: chat-control tokens, fake turns and citation marks in
an article must not reach the model as what they look like.
"""

from __future__ import annotations

import re

from ingest.store import Passage

from ..templates import load_template
from .evidence import ROLES

# Chat-control tokens: llama.cpp reads the whole prompt with special tokens enabled, so these in
# article text would become real turn or document breaks. ChatML/Llama 3/Phi (<|...|>), DeepSeek
# (<｜...｜>), Llama 2/Mistral ([INST], <<SYS>>, <s>), and tag-like tokens such as Gemma's
# <start_of_turn> or SmolLM2's <filename> (any <word> or </word>; HTML tags in a prompt lose nothing).
_SPECIAL = re.compile(r"<\|[^|>]{0,40}\|>|<｜[^｜>]{0,40}｜>|\[/?INST\]|<</?SYS>>|</?[A-Za-z][\w:.-]{0,40}>")
# Fake turns ("### Assistant:", "System:", "Developer:") only work at the start of a line; the roles
# are the ones evidence.py reads a faked turn by.
_ROLE = re.compile(r"(?im)^[\s#>*-]*(" + ROLES + r")\s*:")


def as_data(text: str) -> str:
    """Article text made inert for a prompt: no control tokens, no turns, no citation marks."""
    text = _SPECIAL.sub(" ", text)
    text = _ROLE.sub(lambda m: f"({m.group(1)})", text)
    text = re.sub(r"\[(\d{1,3})\]", r"(\1)", text)  # fake citation marks in articles
    return " ".join(text.split())  # one line per passage: nothing in it starts a turn or a passage


def passage_head(p: Passage) -> str:
    """A passage's title, outlet and date as a model reads them: "Raqqa falls (Desert Herald, 2017-10-17)"."""
    title, source = as_data(p.title or "") or "(untitled)", as_data(p.source or "") or "outlet unknown"
    return f"{title} ({source}, {p.date or 'date unknown'})"


def format_passages(passages: list[Passage]) -> str:
    """Numbered passages for the prompt, with chat-control tokens neutralised (articles are data)."""
    return "\n\n".join(f"[{i}] {passage_head(p)}\n{as_data(p.text)}" for i, p in enumerate(passages, start=1))


def answer_messages(question: str, passages: list[Passage], today: str) -> tuple[str, str]:
    """The system and user messages of the answer prompt (prompts/answer.toml)."""
    return load_template("answer").format(question=question, passages=format_passages(passages), today=today)

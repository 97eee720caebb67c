"""The generative loop: ask the model, check its sentences as they stream, fall back honestly.

Every sentence the model writes goes through `SentenceVerifier` before the reader sees it. A
model that fails (unreachable, timed out) must not take the chat down: the reader gets the
quoted sources, or what was checked so far, and a warning saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ingest.chunking import split_sentences
from ingest.store import Passage

from ..errors import BackendError
from .citing import Draft, attribute, compose_text
from .evidence import Evidence
from .extractive import choose_evidence, extractive, order_newest_first
from .judge import Judge
from .prompt import answer_messages
from .tuning import Tuning
from .verify import SentenceVerifier


def complete_sentences(buffer: str) -> int:
    """Length of the prefix of `buffer` made of finished sentences (0 if none is finished)."""
    spans = split_sentences(buffer)
    if len(spans) < 2:
        return 0
    return spans[-1][0]


def generate(
    question: str,
    passages: list[Passage],
    evidence: list[Evidence],
    today: str,
    chat_model: Callable[[], Any],
    embedder: Any,
    tuning: Tuning,
    judge: Judge | None = None,
    verdicts: bool = False,
) -> Iterator[str | Draft]:
    """Yield the checked answer text in pieces, then the Draft of the answer.

    `chat_model` is called only when the model is needed (building it may load weights). A model
    that says the passages do not answer is believed: the Draft says to abstain. With `verdicts`
    (a capable model, no judge to settle it), a yes/no question's "Yes"/"No" whose sentence the
    check cannot settle is shown marked unchecked, before the checked sentences that ground it.
    """
    from langchain_core.messages import HumanMessage, SystemMessage

    system, user = answer_messages(question, passages, today)
    verifier = SentenceVerifier(evidence, embedder, tuning, question, judge, verdicts=verdicts)

    def check(raw: str) -> Iterator[str]:
        for s in verifier.feed(raw):
            yield ("" if len(verifier.sentences) == 1 else " ") + compose_text([s])

    failure: str | None = None
    buffer = ""
    try:
        for chunk in chat_model().stream([SystemMessage(content=system), HumanMessage(content=user)]):
            buffer += str(chunk.content)
            spans = complete_sentences(buffer)
            if spans:
                yield from check(buffer[:spans])
                buffer = buffer[spans:]
    except BackendError as e:
        failure = str(e)
    else:
        yield from check(buffer)
    notes = [f"removed by the citation check: {d}" for d in verifier.dropped]
    warnings: list[str] = []
    if not verifier.sentences and verifier.refused and not failure:
        # The model declined: quoting the sources now would dress a near-miss up as an answer.
        yield Draft([], [], notes, warnings, streamed=False, abstain="the model found no answer in the passages")
        return
    if not verifier.sentences:
        if failure:
            warnings.append(f"The language model could not answer, so the sources are quoted instead. {failure}")
        else:
            # Nothing it wrote could be checked against the sources: a model that failed, not one that declined.
            notes.append("the model's answer did not pass the citation check; quoting the sources instead")
        quoted, cits = extractive(order_newest_first(choose_evidence(evidence, tuning), today))
        yield Draft(quoted, cits, notes + attribute(quoted, cits, today), warnings, streamed=False)
        return
    if failure:
        warnings.append(f"The language model stopped before finishing, so this answer may be incomplete. {failure}")
    yield Draft(verifier.sentences, verifier.citations, notes, warnings, streamed=True)

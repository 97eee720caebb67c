"""The judge: a second reading, by a capable model, of what the cheap check cannot settle.

`check_sentence` settles a claim whose names, numbers or negation disagree with its sources, and
one that its sources state nearly word for word. Between the two, a paraphrase too far from its
sources to call, it asks the judge (when one is configured): do these sentences state this claim?
The judge fails closed: an error, a timeout or any reply but "SUPPORTED" is a no.
The bundled SmolLM2 is never a judge (it cannot tell; see DESIGN.md).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .prompt import as_data, passage_head

if TYPE_CHECKING:
    from .evidence import Evidence

log = logging.getLogger(__name__)


class Judge:
    """Asks a LangChain chat model whether source sentences support a claim (prompts/judge.toml)."""

    def __init__(self, chat_model: Any) -> None:
        self.chat_model = chat_model
        self.calls = 0

    def supports(self, claim: str, support: list[Evidence]) -> bool:
        from langchain_core.messages import HumanMessage, SystemMessage

        from ..templates import load_template

        passages: dict[str, str] = {}
        for e in support:  # the whole passage of each supporting sentence: the claim may need its context
            passages.setdefault(e.passage.chunk_id, f"{passage_head(e.passage)}\n{as_data(e.passage.text)}")
        sources = "\n\n".join(f"Source {i}: {text}" for i, text in enumerate(passages.values(), start=1))
        system, user = load_template("judge").format(claim=as_data(claim), sources=sources)
        self.calls += 1
        try:
            reply = self.chat_model.invoke([SystemMessage(content=system), HumanMessage(content=user)])
        except Exception as e:  # fail closed on anything the model server does
            log.warning("the judge could not answer (%s: %s); the claim is refused", type(e).__name__, e)
            return False
        verdict = " ".join(str(reply.content).split()).upper()
        return verdict.startswith("SUPPORTED")

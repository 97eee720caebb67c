"""The answer layer: where a question becomes an answer. One module per decision:

- question.py: reading the question (what kind of answer, which periods, names and numbers)
- evidence.py: the retrieved sentences scored against the question
- decide.py: the abstain decision and the honest non-answer
- extractive.py: the extractive composer (which sentences are quoted)
- citing.py: citations, [n] marks and attribution, shared by both modes
- prompt.py: what the model is shown, article text made inert
- verify.py: the check of model-written sentences
- generative.py: the generative loop (ask, check as it streams, fall back)
- choices.py: the opt-in multiple-choice strategy
- tuning.py: the weights and thresholds
- pipeline.py: the stages in order
"""

from .citing import Draft
from .decide import ABSTAIN_TEXT
from .evidence import Evidence, EvidenceScorer
from .pipeline import AnswerPipeline
from .tuning import Tuning

__all__ = ["ABSTAIN_TEXT", "AnswerPipeline", "Draft", "Evidence", "EvidenceScorer", "Tuning"]

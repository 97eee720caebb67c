"""newsqa: ask questions about news articles and get answers cited to the sentence."""

from ingest.models import IngestReport

from .config import Settings
from .core import NewsQA
from .errors import NewsQAError, NothingIndexed
from .models import Answer, AnswerSentence, Citation

__all__ = ["Answer", "AnswerSentence", "Citation", "IngestReport", "NewsQA", "NewsQAError", "NothingIndexed", "Settings"]

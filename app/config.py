"""Settings: an argument wins, then a NEWSQA_* environment variable, then the default."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "newsqa"


@dataclass
class Settings:
    """Every setting, with the environment variable that sets it (see README, Configuration)."""

    data_dir: Path  # NEWSQA_DATA_DIR: all local state (the embedded index, uploads)
    chroma_url: str | None = None  # NEWSQA_CHROMA_URL: use a Chroma server instead of the embedded store
    llm: str = "llamacpp"  # NEWSQA_LLM: llamacpp | llamacpp:/path.gguf | openai:<model>
    llm_base_url: str | None = None  # NEWSQA_LLM_BASE_URL (else OPENAI_BASE_URL)
    llm_timeout: float = 60.0  # NEWSQA_LLM_TIMEOUT: seconds to wait for the model server's reply (or next piece)
    llm_retries: int = 2  # NEWSQA_LLM_RETRIES: extra attempts, with backoff, when the model server is unreachable
    mode: str = "extractive"  # NEWSQA_MODE: extractive | generative
    top_k: int = 6  # NEWSQA_TOP_K: passages retrieved per question
    host: str = "127.0.0.1"  # NEWSQA_HOST
    port: int = 7860  # NEWSQA_PORT
    auth: str | None = None  # NEWSQA_AUTH: user:password for the chat page
    seeds: Path | None = None  # NEWSQA_SEEDS: articles `newsqa serve` ingests into an empty index
    api_key: str | None = None  # NEWSQA_API_KEY: Bearer key the OpenAI-compatible API (/v1) requires

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Settings from arguments (non-None), else NEWSQA_* variables, else defaults."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            arg = overrides.get(f.name)
            env = os.environ.get(f"NEWSQA_{f.name.upper()}")
            value = arg if arg is not None else (env if env not in (None, "") else None)
            if value is None:
                continue
            if f.name in {"top_k", "port", "llm_retries"}:
                value = int(value)
            elif f.name == "llm_timeout":
                value = float(value)
            elif f.name in {"data_dir", "seeds"}:
                value = Path(value).expanduser()
            values[f.name] = value
        values.setdefault("data_dir", default_data_dir())
        settings = cls(**values)
        if settings.mode not in {"extractive", "generative"}:
            raise ValueError(f"mode must be 'extractive' or 'generative', not {settings.mode!r} (NEWSQA_MODE / --mode)")
        return settings

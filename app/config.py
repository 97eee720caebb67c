"""Settings: an argument wins, then a NEWSQA_* environment variable, then the default.

This is the one place that reads NEWSQA_* variables; modules get their settings from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import SettingsError


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "newsqa"


_MODES = ("extractive", "generative")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@dataclass
class Settings:
    """Every setting, with the environment variable that sets it (see README, Configuration)."""

    data_dir: Path  # NEWSQA_DATA_DIR: all local state (the embedded index, uploads, variants.txt)
    chroma_url: str | None = None  # NEWSQA_CHROMA_URL: use a Chroma server instead of the embedded store
    llm: str = "llamacpp"  # NEWSQA_LLM: llamacpp | llamacpp:/path.gguf | openai:<model>
    llm_base_url: str | None = None  # NEWSQA_LLM_BASE_URL (else OPENAI_BASE_URL)
    llm_timeout: float = 60.0  # NEWSQA_LLM_TIMEOUT: seconds to wait for the model server's reply (or next piece)
    llm_retries: int = 2  # NEWSQA_LLM_RETRIES: extra attempts, with backoff, when the model server is unreachable
    mode: str = "extractive"  # NEWSQA_MODE: extractive | generative (default: generative when `llm` is not the bundled model)
    top_k: int = 6  # NEWSQA_TOP_K: passages retrieved per question
    judge: str | None = None  # NEWSQA_JUDGE: off | same (the `llm` model) | openai:<model>; checks what the cheap check cannot settle
    judge_base_url: str | None = None  # NEWSQA_JUDGE_BASE_URL: the judge's OpenAI-compatible server (else the model's)
    choices: bool = False  # NEWSQA_CHOICES: answer "Is it A, B or C?" questions with the choice the sources name
    variants: Path | None = None  # NEWSQA_VARIANTS: a name-variants file (else DATA_DIR/variants.txt when present)
    max_upload_mb: float = 20.0  # NEWSQA_MAX_UPLOAD_MB: the chat page's upload limit per file
    host: str = "127.0.0.1"  # NEWSQA_HOST
    port: int = 7860  # NEWSQA_PORT
    auth: str | None = None  # NEWSQA_AUTH: user:password for the chat page
    seeds: Path | None = None  # NEWSQA_SEEDS: articles `newsqa serve` ingests into an empty index
    api_key: str | None = None  # NEWSQA_API_KEY: Bearer key the OpenAI-compatible API (/v1) requires
    encoder: str = "auto"  # NEWSQA_ENCODER: auto | int8 | fp32 | int8-<format>: which encoder of the bundled MiniLM embeds
    cache_dir: Path | None = None  # NEWSQA_CACHE_DIR: where the int8 export is kept (default ~/.cache/newsqa)

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
            values[f.name] = _parse(f.name, value)
        values.setdefault("data_dir", default_data_dir())
        # A model of the user's choosing writes the answer; the bundled 135M model is too weak to,
        # so with it the answer is quoted from the sources.
        values.setdefault("mode", "extractive" if is_bundled(values.get("llm", "llamacpp")) else "generative")
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if self.mode not in _MODES:
            raise SettingsError(f"mode must be 'extractive' or 'generative', not {self.mode!r} (NEWSQA_MODE / --mode)")
        from ingest.embedder import ENCODERS

        self.encoder = self.encoder.strip().lower()
        if self.encoder not in ENCODERS:
            raise SettingsError(f"NEWSQA_ENCODER must be one of {', '.join(ENCODERS)}, not {self.encoder!r}")
        if self.max_upload_mb <= 0:
            raise SettingsError(f"NEWSQA_MAX_UPLOAD_MB must be positive, not {self.max_upload_mb!r}")


def is_bundled(llm: str) -> bool:
    """Whether the model spec names the bundled SmolLM2 (plain `llamacpp`)."""
    return llm.strip() == "llamacpp"


def _parse(name: str, value: Any) -> Any:
    """A setting's value from an argument or an environment string, with a message naming the variable."""
    try:
        if name in {"top_k", "port", "llm_retries"}:
            return int(value)
        if name in {"llm_timeout", "max_upload_mb"}:
            return float(value)
        if name in {"data_dir", "seeds", "variants", "cache_dir"}:
            return Path(value).expanduser()
        if name == "choices" and isinstance(value, str):
            if value.strip().lower() not in _TRUE | _FALSE:
                raise ValueError(value)
            return value.strip().lower() in _TRUE
    except ValueError:
        unit = {"max_upload_mb": "a number of megabytes"}.get(name, "a number" if name != "choices" else "true or false")
        raise SettingsError(f"NEWSQA_{name.upper()} must be {unit}, not {value!r}") from None
    return value

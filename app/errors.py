"""The errors of asking: the family's base (from ingest.errors) and the errors `app` raises."""

from __future__ import annotations

from ingest.errors import NewsQAError


class NothingIndexed(NewsQAError):
    """A question was asked of an empty index."""


class BackendError(NewsQAError, RuntimeError):
    """The language model could not be built or reached; the message says what to check."""


class SettingsError(NewsQAError, ValueError):
    """A setting (argument or NEWSQA_* variable) has a value newsqa cannot use."""


__all__ = ["BackendError", "NewsQAError", "NothingIndexed", "SettingsError"]

"""The error family: every error newsqa means a person to read derives from `NewsQAError`.

It lives here, below `app`, so that both packages raise it (ingest never imports app). The CLI
and the chat page catch this family and show its message, which says what to do next; any other
exception is a bug and is reported as one.
"""

from __future__ import annotations


class NewsQAError(Exception):
    """Something the user can fix; the message says how."""



class UsageError(NewsQAError, ValueError):
    """An argument newsqa cannot use (a column mapping, a feed list, a question file); the message says what it takes."""


__all__ = ["NewsQAError", "UsageError"]

"""Name variants: spellings of one place, group or person that should find each other.

"Deir Ezzor", "Deir ez-Zor" and "Dayr az-Zawr" are one city; "ISIS", "ISIL" and "Islamic
State" one group. The lists are data (ingest/variants.txt, plus the user's own file), and the
expansion is a pure function over index terms, so the keyword search and the answer scorer
can share it without sharing state.

File format: one entity per line, spellings separated by "|"; "#" starts a comment.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .errors import NewsQAError
from .terms import terms

DEFAULT_FILE = Path(__file__).with_name("variants.txt")
USER_FILE_NAME = "variants.txt"


class VariantsError(NewsQAError, ValueError):
    """A variants file that cannot be read; the message names the file and line."""


@dataclass
class Variants:
    """Groups of spellings, each spelling held as its sequence of index terms."""

    groups: list[list[tuple[str, ...]]] = field(default_factory=list)
    # first term of a spelling -> (spelling terms, group number), longest spelling first
    _starts: dict[str, list[tuple[tuple[str, ...], int]]] = field(default_factory=dict, repr=False)

    def add_group(self, spellings: list[str]) -> None:
        """Add one entity's spellings (raw text; they are turned into index terms here)."""
        phrases = list(dict.fromkeys(tuple(terms(s)) for s in spellings))
        phrases = [p for p in phrases if p]  # "IS" is all stopword: it cannot be searched for
        if len(phrases) < 2:
            return
        g = len(self.groups)
        self.groups.append(phrases)
        for p in phrases:
            bucket = self._starts.setdefault(p[0], [])
            bucket.append((p, g))
            bucket.sort(key=lambda item: -len(item[0]))

    def expand(self, query_terms: list[str]) -> list[str]:
        """`query_terms` followed by the terms of every other spelling of the names they contain."""
        out = list(query_terms)
        seen = set(out)
        for i, t in enumerate(query_terms):
            for phrase, g in self._starts.get(t, ()):
                if tuple(query_terms[i : i + len(phrase)]) != phrase:
                    continue
                for other in self.groups[g]:
                    for x in other:
                        if x not in seen:
                            seen.add(x)
                            out.append(x)
        return out

    def spellings_of(self, query_terms: list[str]) -> list[list[tuple[str, ...]]]:
        """The groups of spellings named in `query_terms` (for matchers that need any-of logic)."""
        found: list[int] = []
        for i, t in enumerate(query_terms):
            for phrase, g in self._starts.get(t, ()):
                if tuple(query_terms[i : i + len(phrase)]) == phrase and g not in found:
                    found.append(g)
        return [self.groups[g] for g in found]


def parse_variants(text: str, origin: str = "<text>", into: Variants | None = None) -> Variants:
    """Read the variants file format into `into` (or a new Variants)."""
    variants = into if into is not None else Variants()
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spellings = [s.strip() for s in line.split("|") if s.strip()]
        if len(spellings) < 2:
            raise VariantsError(f"{origin}, line {n}: a line needs at least two spellings separated by '|'")
        variants.add_group(spellings)
    return variants


def variant_files(data_dir: str | os.PathLike | None = None, user_file: str | os.PathLike | None = None) -> list[Path]:
    """The files read, in order: the shipped list, then the user's (`user_file`, else DATA_DIR/variants.txt).

    The caller says where they are (app's Settings: NEWSQA_VARIANTS, NEWSQA_DATA_DIR or the
    arguments), so the data directory given any way is the one used.
    """
    files = [DEFAULT_FILE]
    if user_file:
        files.append(Path(user_file).expanduser())
    elif data_dir is not None:
        candidate = Path(data_dir).expanduser() / USER_FILE_NAME
        if candidate.is_file():
            files.append(candidate)
    return files


def load_variants(files: list[Path] | None = None) -> Variants:
    """Variants from `files` (default: the shipped list); a missing or bad user file is an error."""
    variants = Variants()
    for f in files if files is not None else variant_files():
        try:
            text = Path(f).read_text(encoding="utf-8-sig")
        except OSError as e:
            raise VariantsError(f"cannot read the variants file {f}: {e.strerror or e}. Fix NEWSQA_VARIANTS or the file.") from e
        parse_variants(text, str(f), variants)
    return variants


def _signature(files: list[Path]) -> tuple:
    sig = []
    for f in files:
        try:
            st = f.stat()
            sig.append((str(f), st.st_mtime_ns, st.st_size))
        except OSError:
            sig.append((str(f), None, None))
    return tuple(sig)


class VariantSource:
    """The variants of a list of files, re-read when a file changes (a stat per call).

    The keyword search and the answer scorer of one NewsQA share one source.
    """

    def __init__(self, files: list[Path] | None = None) -> None:
        self.files = list(files) if files is not None else variant_files()
        self._lock = threading.Lock()
        self._cache: tuple[tuple, Variants] | None = None

    def current(self) -> Variants:
        sig = _signature(self.files)
        with self._lock:
            if self._cache is None or self._cache[0] != sig:
                self._cache = (sig, load_variants(self.files))
            return self._cache[1]


SHIPPED = VariantSource([DEFAULT_FILE])


def current_variants(source: VariantSource | None = None) -> Variants:
    """The variants in effect now for `source` (default: the shipped list only)."""
    return (source or SHIPPED).current()


def expand_terms(query_terms: list[str], source: VariantSource | None = None) -> list[str]:
    """Query terms plus the terms of the other spellings of every name they contain.

    >>> expand_terms(["control", "deir", "ez", "zor"])[:6]
    ['control', 'deir', 'ez', 'zor', 'ezzor', 'al']
    """
    return current_variants(source).expand(query_terms)


def covered_terms(query_terms: list[str], found: set[str], source: VariantSource | None = None) -> set[str]:
    """Terms of the query's names that `found` holds under another spelling.

    For matchers that ask "is this name in the text?": "dayr" counts as present in a text that
    says "Deir Ezzor". Returns the terms of every spelling of each name whose one spelling is
    wholly in `found`.
    """
    covered: set[str] = set()
    for group in current_variants(source).spellings_of(query_terms):
        if any(set(phrase) <= found for phrase in group):
            covered.update(t for phrase in group for t in phrase)
    return covered


__all__ = ["SHIPPED", "VariantSource", "Variants", "VariantsError", "covered_terms", "current_variants", "expand_terms", "load_variants", "parse_variants", "variant_files"]

"""Reading articles from files and folders: text, Markdown, HTML, JSON, JSON Lines and CSV.

Every reader yields either an Article or a Skip with a reason a person can act on; nothing
here touches the index.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import NewsQAError, UsageError
from .models import Article, Skip, content_hash

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
JSON_SUFFIXES = {".json", ".jsonl", ".ndjson"}
CSV_SUFFIXES = {".csv", ".tsv"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | CSV_SUFFIXES

# One article is at most this big; a bigger file is a dump or an accident, not an article.
MAX_ARTICLE_BYTES = 5 * 1024 * 1024
# JSON Lines files are streamed, so they may be large; a single JSON document is read whole.
MAX_JSON_BYTES = 200 * 1024 * 1024
MAX_LINE_BYTES = 5 * 1024 * 1024


class LoadError(NewsQAError, ValueError):
    """A file that cannot be read as an article; the message is the skip reason."""


def iter_paths(paths: list[str | os.PathLike]) -> Iterator[Path | Skip]:
    """Expand files and folders (recursively, sorted) into readable files or skips."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                # Hidden files and Python package markers (seeds/ ships as a package) aren't articles.
                if any(part.startswith(".") or part == "__pycache__" for part in rel) or f.name == "__init__.py":
                    continue
                if f.is_file():
                    yield f if f.suffix.lower() in SUFFIXES else Skip(str(f), _unsupported(f))
        elif p.is_file():
            yield p if p.suffix.lower() in SUFFIXES else Skip(str(p), _unsupported(p))
        else:
            yield Skip(str(p), "no such file or folder")


def _unsupported(p: Path) -> str:
    return f"unsupported file type {p.suffix or '(none)'!r}: newsqa reads {', '.join(sorted(SUFFIXES))}"


def load_file(path: Path, columns: dict[str, str] | None = None) -> Iterator[Article | Skip]:
    """Read one file into articles; bad files or records become Skips.

    `columns` maps article fields to the CSV columns / JSON keys holding them ({"text": "body"}).
    """
    suffix = path.suffix.lower()
    try:
        if suffix in {".jsonl", ".ndjson"}:
            yield from _load_jsonl(path, columns)
            return
        limit = MAX_JSON_BYTES if suffix in {".json"} | CSV_SUFFIXES else MAX_ARTICLE_BYTES
        size = path.stat().st_size
        if size == 0:
            raise LoadError("empty file")
        if size > limit:
            raise LoadError(f"file too large ({size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB)")
        text = decode(path.read_bytes())
        if suffix == ".json":
            yield from _load_json(path, text, columns)
        elif suffix in CSV_SUFFIXES:
            yield from _load_csv(path, text, columns)
        elif suffix in HTML_SUFFIXES:
            yield _article_from_html(path, text)
        elif suffix in {".md", ".markdown"}:
            yield _article_from_markdown(path, text)
        else:
            yield _article(path, text)
    except LoadError as e:
        yield Skip(str(path), str(e))
    except OSError as e:
        yield Skip(str(path), f"cannot read file: {e.strerror or e}")


# Control characters other than tab, newline, form feed and carriage return.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f]")


def decode(data: bytes) -> str:
    """Bytes to text: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252.

    Raises LoadError for binary data.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _clean(data.decode("utf-16"))
        except UnicodeDecodeError as e:
            raise LoadError("undecodable UTF-16 text") from e
    head = data[:8192]
    if b"\x00" in head:
        raise LoadError("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        mostly = data.decode("utf-8-sig", errors="replace")
        bad = mostly.count("\ufffd")
        if sum(1 for c in mostly if ord(c) > 127) - bad >= bad:
            # UTF-8 with a few damaged bytes: keep its accents rather than misread them all as
            # Windows-1252 (only the damaged bytes become U+FFFD).
            text = mostly
        else:
            # Legacy single-byte text (Latin-1 / Windows-1252) is common in old archives.
            text = data.decode("cp1252", errors="replace")
            if text.count("\ufffd") > len(text) // 100 + 1:
                raise LoadError("not UTF-8, UTF-16 or Windows-1252 text") from None
    sample = text[:8192]
    controls = len(_CONTROLS.findall(sample))
    if controls > len(sample) // 20:
        raise LoadError("binary file (mostly control characters)")
    return _clean(text)


def _clean(text: str) -> str:
    """Normalise line ends and drop control characters other than newline and tab."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Lone surrogates (JSON can spell them, "\\ud800") cannot be stored or hashed as UTF-8.
    text = re.sub(r"[\ud800-\udfff]", "\ufffd", text)
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text)


# A run this long without a space is a base64 blob, a hex dump or minified code, not prose: it
# would fill chunks with noise (a 5 MB one, thousands of them), so it is left out of the article.
_RUN = re.compile(r"[!-~]{1000,}")


def _readable(text: str) -> str:
    """The article text without over-long runs; LoadError if nothing else is left."""
    kept = _RUN.sub(" ", text).strip() if len(text) >= 1000 else text.strip()
    if text.strip() and not kept:
        longest = max(len(m.group()) for m in _RUN.finditer(text))
        raise LoadError(f"no readable text (a run of {longest:,} characters without spaces)")
    return kept


def _article(path: Path, text: str, **meta: str | None) -> Article:
    text = _readable(text)
    if not text:
        raise LoadError("empty file (no text)")
    return make_article(text=text, path=str(path), **meta)


def make_article(
    text: str,
    title: str | None = None,
    source: str | None = None,
    url: str | None = None,
    published_at: str | None = None,
    id: str | None = None,
    path: str | None = None,
    author: str | None = None,
) -> Article:
    """Build an Article with a stable id: the record's own id, else its canonical URL, else a hash."""
    url = canonical_url(url)
    if id:
        article_id = str(id)
    elif url:
        article_id = url
    else:
        article_id = "sha256:" + content_hash(text)[:32]
    return Article(
        id=article_id,
        text=text,
        title=_blank_to_none(title),
        source=_blank_to_none(source),
        url=url,
        published_at=normalise_date(published_at),
        path=path,
        author=_blank_to_none(author),
    )


def _blank_to_none(value: object) -> str | None:
    if value is None:
        return None
    value = " ".join(str(value).split())
    return value or None


def canonical_url(url: str | None) -> str | None:
    """http(s) URL without fragment and tracking parameters, or None."""
    url = _blank_to_none(url)
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    query = [(k, v) for k, v in parse_qsl(parts.query) if not k.lower().startswith(("utm_", "fbclid", "gclid"))]
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", urlencode(query), ""))


def normalise_date(value: object) -> str | None:
    """An ISO date (YYYY-MM-DD) from an ISO or RFC 2822 string, or None if it can't be read."""
    value = _blank_to_none(value)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).date().isoformat()
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).date().isoformat()
    except (TypeError, ValueError, IndexError):
        pass
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})", value)
    if m:
        try:
            return datetime(int(m[1]), int(m[2]), int(m[3])).date().isoformat()
        except ValueError:
            return None
    return None


# --- Markdown -------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)


def _article_from_markdown(path: Path, text: str) -> Article:
    """Front matter (title/source/url/date) and a leading '# Title' are metadata when present."""
    meta: dict[str, str | None] = {}
    m = _FRONT_MATTER.match(text)
    if m:
        for line in m.group(1).splitlines():
            key, sep, value = line.partition(":")
            if sep:
                meta[key.strip().lower()] = value.strip().strip("\"'")
        text = text[m.end():]
    h = re.match(r"\s*#\s+(.+)\n", text)
    if h and not meta.get("title"):
        meta["title"] = h.group(1).strip()
        text = text[h.end():]
    return _article(
        path,
        text,
        title=meta.get("title"),
        source=meta.get("source") or meta.get("outlet"),
        url=meta.get("url"),
        published_at=meta.get("published_at") or meta.get("date"),
    )


# --- HTML -----------------------------------------------------------------------------------


def _article_from_html(path: Path, html: str) -> Article:
    from .html import extract

    page = extract(html)
    if not page.text.strip():
        raise LoadError("no article text found in the HTML page")
    return _article(
        path, page.text, title=page.title, source=page.source, url=page.url, published_at=page.published_at,
        author=page.author,
    )


# --- JSON -----------------------------------------------------------------------------------

_RECORD_FIELDS = ("title", "source", "url", "published_at", "id", "author")


def _record(path: Path, where: str, obj: object, columns: dict[str, str] | None = None) -> Article | Skip:
    if not isinstance(obj, dict):
        return Skip(f"{path}:{where}", "not a JSON object")
    if columns:
        obj = {**obj, **{field: obj.get(column) for field, column in columns.items()}}
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        return Skip(f"{path}:{where}", "record has no 'text'")
    meta = {k: (_clean(str(obj[k])) if obj.get(k) is not None else None) for k in _RECORD_FIELDS}
    meta["published_at"] = meta["published_at"] or (str(obj["date"]) if obj.get("date") else None)
    try:
        text = _readable(_clean(text))
    except LoadError as e:
        return Skip(f"{path}:{where}", str(e))
    return make_article(text=text, path=f"{path}:{where}", **meta)


def _load_json(path: Path, text: str, columns: dict[str, str] | None = None) -> Iterator[Article | Skip]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise LoadError(f"malformed JSON ({e.msg} at line {e.lineno})") from e
    records = data if isinstance(data, list) else [data]
    if not records:
        raise LoadError("empty JSON list")
    for i, obj in enumerate(records):
        yield _record(path, f"#{i}", obj, columns)


def _load_jsonl(path: Path, columns: dict[str, str] | None = None) -> Iterator[Article | Skip]:
    seen: set[str] = set()
    found = False
    with path.open("rb") as f:
        for n, raw in enumerate(_bounded_lines(f), start=1):
            if raw is None:
                yield Skip(f"{path}:{n}", f"line longer than {MAX_LINE_BYTES // 1_000_000} MB")
                continue
            if not raw.strip():
                continue
            found = True
            try:
                obj = json.loads(decode(raw))
            except (json.JSONDecodeError, LoadError) as e:
                reason = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
                yield Skip(f"{path}:{n}", f"malformed JSON line ({reason})")
                continue
            yield _first_of_id(_record(path, str(n), obj, columns), seen, f"{path}:{n}")
    if not found:
        yield Skip(str(path), "empty file")


# --- CSV ------------------------------------------------------------------------------------

ARTICLE_FIELDS = ("text", *_RECORD_FIELDS)


def parse_column_map(spec: str | None) -> dict[str, str]:
    """`"text=body,published_at=date"` -> {"text": "body", "published_at": "date"}.

    Raises:
        UsageError: a malformed pair or an unknown article field (the message lists the fields).
    """
    mapping: dict[str, str] = {}
    for pair in (spec or "").split(","):
        if not pair.strip():
            continue
        field, sep, column = (x.strip() for x in pair.partition("="))
        if not sep or not field or not column:
            raise UsageError(f"bad column mapping {pair.strip()!r}: write FIELD=COLUMN, e.g. text=body,published_at=date")
        if field == "date":
            field = "published_at"
        if field not in ARTICLE_FIELDS:
            raise UsageError(f"unknown article field {field!r} in the column mapping: use {', '.join(ARTICLE_FIELDS)}")
        mapping[field] = column
    return mapping


def _load_csv(path: Path, text: str, columns: dict[str, str] | None = None) -> Iterator[Article | Skip]:
    """One article per row; the header names the columns (mapped to fields by `columns`)."""
    csv.field_size_limit(MAX_LINE_BYTES)
    sample = text[:8192]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
    header = [h for h in (reader.fieldnames or []) if h]
    if not header:
        raise LoadError("empty CSV file (no header row)")
    wanted = {**{f: f for f in ARTICLE_FIELDS if f in header}, **(columns or {})}
    missing = [f"{column!r} (for {field})" for field, column in wanted.items() if column not in header]
    if missing or "text" not in wanted:
        hint = "map one with --map text=COLUMN" if "text" not in wanted else "fix the --map column names"
        raise LoadError(
            f"CSV has no column {', '.join(missing) or repr('text')}; its columns are {', '.join(header)}: {hint}"
        )
    if "published_at" not in wanted and "date" in header:
        wanted["published_at"] = "date"
    seen: set[str] = set()
    found = False
    try:
        for n, row in enumerate(reader, start=2):
            found = True
            item = _record(path, str(n), {field: row.get(column) for field, column in wanted.items()})
            yield _first_of_id(item, seen, f"{path}:{n}")
    except csv.Error as e:
        yield Skip(f"{path}:{reader.line_num}", f"malformed CSV ({e}); the rows after it were not read")
    if not found:
        yield Skip(str(path), "CSV file has a header but no rows")


def _first_of_id(item: Article | Skip, seen: set[str], where: str) -> Article | Skip:
    """A record whose id came earlier in the same file is skipped, not silently overwritten."""
    if isinstance(item, Article):
        if item.id in seen:
            return Skip(where, f"duplicate id {item.id!r} earlier in this file")
        seen.add(item.id)
    return item


def _bounded_lines(f) -> Iterator[bytes | None]:
    """Lines of a binary file; None stands for a line over MAX_LINE_BYTES (skipped, not held)."""
    while True:
        line = f.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = f.readline(MAX_LINE_BYTES)
            yield None
            continue
        yield line


def load(paths: list[str | os.PathLike]) -> Iterator[Article | Skip]:
    """Every article (or skip) under the given files and folders."""
    for item in iter_paths(paths):
        if isinstance(item, Skip):
            yield item
        else:
            yield from load_file(item)

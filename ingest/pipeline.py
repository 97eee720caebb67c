"""load -> chunk -> embed -> store, with a report and a progress bar."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from .chunking import chunk_article
from .loaders import iter_paths, load_file
from .models import Article, Chunk, IngestReport, Skip
from .store import Store

ProgressCallback = Callable[[int, int | None], None]


def embedding_text(article: Article, chunk: Chunk) -> str:
    """What is embedded for a chunk: the title gives short chunks their topic."""
    return f"{article.title}\n{chunk.text}" if article.title else chunk.text


def _count_items(files: list[Path]) -> int:
    total = 0
    for f in files:
        if f.suffix.lower() in {".jsonl", ".ndjson"}:
            try:
                with f.open("rb") as fh:
                    total += sum(1 for line in fh if line.strip())
            except OSError:
                total += 1
        else:
            total += 1
    return total


def ingest_paths(
    paths: Iterable[str | os.PathLike],
    store: Store,
    progress: bool = False,
    on_progress: ProgressCallback | None = None,
    batch_chunks: int = 512,
    max_chunk_chars: int = 900,
) -> IngestReport:
    """Ingest files and folders into `store`; safe to repeat (unchanged articles are skipped).

    Args:
        paths: files or folders (read recursively).
        store: the index to write to.
        progress: show a progress bar on stderr.
        on_progress: called with (done, total) after each article, for UIs.
        batch_chunks: chunks embedded per encoder call.
        max_chunk_chars: chunk size limit, in characters.
    Returns:
        The IngestReport: added / updated / unchanged / skipped and the index totals.
    """
    report = IngestReport()
    store.remove_orphans()
    files: list[Path] = []
    for item in iter_paths(list(paths)):
        if isinstance(item, Skip):
            report.skipped.append(item)
        else:
            files.append(item)
    total = _count_items(files)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="article", desc="ingest", file=sys.stderr, dynamic_ncols=True)
    done = 0
    pending: list[tuple[Article, list[Chunk]]] = []
    replace: list[str] = []
    seen_hashes: dict[str, str] = {}

    def flush() -> None:
        if not pending:
            return
        texts = [embedding_text(a, c) for a, chunks in pending for c in chunks]
        vectors = store.embedder.embed(texts)
        items, i = [], 0
        for article, chunks in pending:
            items.append((article, chunks, vectors[i : i + len(chunks)]))
            i += len(chunks)
        store.put_articles(items, replace=replace)
        report.chunks_added += len(texts)
        pending.clear()
        replace.clear()

    try:
        for f in files:
            for item in load_file(f):
                done += 1
                if bar is not None:
                    bar.update(1)
                if on_progress is not None:
                    on_progress(done, total)
                if isinstance(item, Skip):
                    report.skipped.append(item)
                    continue
                verdict = _classify(item, store, seen_hashes)
                if isinstance(verdict, Skip):
                    report.skipped.append(verdict)
                    continue
                if verdict == "unchanged":
                    report.unchanged += 1
                    continue
                chunks = chunk_article(item.id, item.text, max_chars=max_chunk_chars)
                if not chunks:
                    report.skipped.append(Skip(item.path or item.id, "no text to index"))
                    continue
                if verdict == "added":
                    report.added += 1
                else:
                    report.updated += 1
                    replace.extend(verdict[1])
                seen_hashes[item.hash] = item.id
                pending.append((item, chunks))
                if sum(len(c) for _, c in pending) >= batch_chunks:
                    flush()
        flush()
    finally:
        if bar is not None:
            bar.close()
    report.articles, report.chunks = store.counts()
    return report


def _classify(article: Article, store: Store, seen: dict[str, str]) -> str | tuple[str, list[str]] | Skip:
    """'added', 'unchanged', ('updated', ids to replace) or a Skip for a duplicate."""
    h = article.hash
    existing = store.article_meta([article.id]).get(article.id)
    if existing is not None:
        return "unchanged" if existing.get("hash") == h else ("updated", [article.id])
    if h in seen and seen[h] != article.id:
        return Skip(article.path or article.id, f"same text as {seen[h]!r}, ingested just before")
    twins = store.find_articles({"hash": h})
    if twins:
        return Skip(article.path or article.id, f"same text as already-indexed article {next(iter(twins))!r}")
    # A file without URL or id is identified by its content: an edited file replaces what
    # was read from the same path before.
    if article.id.startswith("sha256:") and article.path:
        older = [aid for aid in store.find_articles({"path": article.path}) if aid.startswith("sha256:")]
        if older:
            return ("updated", older)
    return "added"


__all__ = ["embedding_text", "ingest_paths"]

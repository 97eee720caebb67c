"""load -> chunk -> embed -> store, with a report and a progress bar; syndicated copies collapse here."""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import chunk_article
from .feeds import load_source, read_url_list
from .loaders import iter_paths, load_file
from .models import Article, Chunk, IngestReport, Skip
from .store import Store
from .syndication import (
    CANDIDATE_SIMILARITY,
    CANDIDATES,
    THRESHOLD,
    Copy,
    dump_copies,
    read_copies,
    resemblance,
    shingles,
    with_copy,
)
from .syndication import FIELD as COPIES_FIELD
from .web import is_url

ProgressCallback = Callable[[int, int | None], None]


def embedding_text(article: Article, chunk: Chunk) -> str:
    """What is embedded for a chunk: the title gives short chunks their topic."""
    return _embedding_text(article.title, chunk.text)


def _embedding_text(title: str | None, text: str) -> str:
    return f"{title}\n{text}" if title else text


def _count_items(files: list[Path]) -> int:
    total = 0
    for f in files:
        if f.suffix.lower() in {".jsonl", ".ndjson", ".csv", ".tsv"}:
            try:
                total += _count_lines(f)
            except OSError:
                total += 1
        else:
            total += 1
    return total


def _count_lines(path: Path, block: int = 1 << 20) -> int:
    """Non-blank lines, read in fixed blocks: one 50 MB line must not be held in memory to count it."""
    count, has_text = 0, False
    with path.open("rb") as fh:
        while data := fh.read(block):
            parts = data.split(b"\n")
            for i, part in enumerate(parts):
                has_text = has_text or bool(part.strip())
                if i < len(parts) - 1:  # a newline ends the line
                    count += has_text
                    has_text = False
    return count + has_text


def ingest_paths(
    paths: Iterable[str | os.PathLike],
    store: Store,
    progress: bool = False,
    on_progress: ProgressCallback | None = None,
    batch_chunks: int = 512,
    max_chunk_chars: int = 900,
    columns: dict[str, str] | None = None,
    collapse_copies: bool = True,
    background_encoder: bool = False,
) -> IngestReport:
    """Ingest files, folders, web pages and feeds into `store`; safe to repeat.

    Args:
        paths: files or folders (read recursively), http(s) URLs of pages or RSS/Atom feeds,
            or text/OPML files listing such URLs.
        store: the index to write to.
        progress: show a progress bar on stderr.
        on_progress: called with (done, total) after each article, for UIs.
        batch_chunks: chunks embedded per encoder call.
        max_chunk_chars: chunk size limit, in characters.
        columns: which CSV column / JSON field holds each article field, e.g. {"text": "body"}.
        collapse_copies: store a near-identical copy of an indexed story (another outlet's
            syndicated copy) as "also published by" on the first one instead of as an article.
        background_encoder: past the first batch, run an int8 encoder in a child process, so each
            batch is written to the index while the next is encoded. Off by default: on this 2-core
            machine it measured no faster than encoding in-process, for about 5% more CPU time
            (BENCHMARKS.md, issue 17).
    Returns:
        The IngestReport: added / updated / unchanged / skipped and the index totals.
    """
    report = IngestReport()
    files: list[Path] = []
    urls: list[str] = []
    local: list[str | os.PathLike] = []
    for raw in paths:
        if is_url(raw):
            urls.append(str(raw))
        elif (listed := read_url_list(Path(raw))) is not None:
            urls.extend(listed)
        else:
            local.append(raw)
    for item in iter_paths(local):
        if isinstance(item, Skip):
            report.skipped.append(item)
        else:
            files.append(item)

    def items() -> Iterator[Article | Skip]:
        for f in files:
            yield from load_file(f, columns=columns)
        for url in urls:
            yield from load_source(url)

    return ingest_items(
        items(), store, total=_count_items(files) + len(urls), progress=progress, on_progress=on_progress,
        batch_chunks=batch_chunks, max_chunk_chars=max_chunk_chars, collapse_copies=collapse_copies, report=report,
        background_encoder=background_encoder,
    )


def ingest_items(
    items: Iterable[Article | Skip],
    store: Store,
    *,
    total: int | None = None,
    progress: bool = False,
    on_progress: ProgressCallback | None = None,
    batch_chunks: int = 512,
    max_chunk_chars: int = 900,
    collapse_copies: bool = True,
    report: IngestReport | None = None,
    background_encoder: bool = False,
) -> IngestReport:
    """Ingest articles already read (e.g. by a feed poll); see `ingest_paths` for the arguments.

    `background_encoder`: once there is more than one batch, let an int8 encoder run in a child
    process (`Embedder.start_process`), so that each batch is written while the next is encoded.
    """
    report = report or IngestReport()
    store.remove_orphans()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="article", desc="ingest", file=sys.stderr, dynamic_ncols=True)
    done = 0
    pending: list[tuple[Article, list[Chunk], bool]] = []  # (article, chunks, is it new?)
    replace: list[str] = []
    seen_hashes: dict[str, str] = {}
    carried: dict[str, str] = {}  # updated article -> its "also published by", kept across the rewrite

    Batch = tuple[list[tuple[Article, list[Chunk], bool]], list[str]]  # (pending articles, ids to replace)
    lookups = _Lookups(store)
    # With background_encoder, past the first batch an int8 encoder runs in a child process: batch
    # k+1 is encoded while batch k is written (Chroma's writes hold the GIL: a thread could not).
    encoder: Any = None
    asked = not background_encoder or not hasattr(store.embedder, "start_process")  # for an encoder process
    in_flight: Batch | None = None  # submitted to `encoder`, not yet written

    def write(batch: Batch, vectors: np.ndarray) -> None:
        articles, replace_ids = batch
        to_store: list[tuple[Article, list[Chunk], np.ndarray]] = []
        fresh: list[tuple[Article, frozenset[int], np.ndarray]] = []
        copies: list[tuple[str, Copy]] = []
        split = np.cumsum([len(chunks) for _, chunks, _ in articles])[:-1]
        per_article = np.split(vectors, split)
        check = [j for j, (_, _, is_new) in enumerate(articles) if is_new and collapse_copies]
        centroids = {j: _unit(per_article[j].mean(axis=0)) for j in check}
        # The index's neighbours of every new article, in one query: nothing is written until the
        # batch is, and copies within the batch are found among `fresh`.
        neighbours = dict(zip(check, store.similar_articles_many(np.asarray([centroids[j] for j in check]), CANDIDATES)))
        for j, (article, chunks, _) in enumerate(articles):
            vecs = per_article[j]
            if j in centroids:
                centroid = centroids[j]
                sh = shingles(article.text)
                original = _original_of(sh, centroid, neighbours[j], fresh)
                if original is not None:
                    oid, osource, r = original
                    report.added -= 1
                    by = article.source or article.url or "an unknown outlet"
                    report.skipped.append(Skip(
                        article.path or article.id,
                        f"syndicated copy of {oid!r} ({osource or 'outlet unknown'}; {r:.0%} the same text): "
                        f"recorded there as also published by {by}",
                    ))
                    copies.append((oid, Copy.of(article)))
                    continue
                fresh.append((article, sh, centroid))
            to_store.append((article, chunks, vecs))
        store.put_articles(to_store, replace=replace_ids)
        written = {a.id for a, _, _ in to_store}
        for aid in [a for a in carried if a in written]:
            store.update_article_meta(aid, {COPIES_FIELD: carried.pop(aid)})
        for oid, copy in copies:
            meta = store.article_meta([oid]).get(oid)
            if meta is None:
                continue
            before = read_copies(meta)
            after = with_copy(before, copy)
            if after != before:
                store.update_article_meta(oid, {COPIES_FIELD: dump_copies(after)})
        report.chunks_added += sum(len(c) for _, c, _ in to_store)
        lookups.clear()  # they were read before this write

    def drain() -> None:
        """Write the batch the encoder process is working on, once its vectors are back."""
        nonlocal in_flight
        if in_flight is not None:
            batch, in_flight = in_flight, None
            write(batch, encoder.result())

    def flush(last: bool) -> None:
        nonlocal encoder, in_flight, asked
        if pending:
            batch: Batch = (list(pending), list(replace))
            pending.clear()
            replace.clear()
            texts = [embedding_text(a, c) for a, chunks, _ in batch[0] for c in chunks]
            if encoder is not None:
                encoder.submit(texts)
                drain()  # the batch before, written while this one is encoded
                in_flight = batch
            else:
                if not asked and not last:
                    asked = True  # once: None means this encoder stays in this process
                    encoder = store.embedder.start_process()  # it starts while this batch is encoded here
                write(batch, store.embedder.embed(texts))
        if last:
            drain()

    def in_flight_has(article: Article) -> bool:
        """Whether `article` names an article of the batch being encoded: it is classified only once
        that batch is written, as it would be if the batches were written one after the other."""
        by_path = _Lookups.by_content(article)
        return in_flight is not None and any(
            a.id == article.id or (by_path and a.path == article.path) for a, _, _ in in_flight[0])

    ahead: deque[Article | Skip | _Failed] = deque()  # items read before their turn, for `lookups`
    stream = iter(items)

    def upcoming() -> list[Article]:
        while len(ahead) < LOOKUP_WINDOW - 1 and not (ahead and isinstance(ahead[-1], _Failed)):
            try:
                nxt = next(stream, None)
            except Exception as e:  # raised at its turn: the articles before it are ingested first
                nxt = _Failed(e)
            if nxt is None:
                break
            ahead.append(nxt)
        return [a for a in ahead if isinstance(a, Article)]

    try:
        while ahead or (item := next(stream, None)) is not None:
            if ahead:
                item = ahead.popleft()
            if isinstance(item, _Failed):
                raise item.error
            done += 1
            if bar is not None:
                if bar.total is not None and done > bar.total:
                    bar.total = done  # a feed holds more articles than its one URL counted for
                bar.update(1)
            if on_progress is not None:
                on_progress(done, total)
            if isinstance(item, Skip):
                report.skipped.append(item)
                continue
            if in_flight_has(item):
                drain()
            if not lookups.has(item):
                lookups.fetch([item, *upcoming()])
            verdict = _classify(item, lookups, seen_hashes)
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
                also = (lookups.meta(item.id) or {}).get(COPIES_FIELD)
                if also:
                    carried[item.id] = also
            seen_hashes[item.hash] = item.id
            pending.append((item, chunks, verdict == "added"))
            if sum(len(c) for _, c, _ in pending) >= batch_chunks:
                flush(last=False)
        flush(last=True)
    finally:
        if encoder is not None:
            encoder.close()  # after an error, the batch it was encoding is not written: it was never committed
        if bar is not None:
            bar.close()
    report.articles, report.chunks = store.counts()
    return report


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) or 1.0)


def _original_of(
    sh: frozenset[int],
    centroid: np.ndarray,
    neighbours: list[tuple[str, float, dict[str, Any], str]],
    fresh: list[tuple[Article, frozenset[int], np.ndarray]],
) -> tuple[str, str | None, float] | None:
    """The indexed (or just-read) article this text is a near-identical copy of: (id, outlet, resemblance).

    `neighbours` are the indexed articles nearest `centroid` (`Store.similar_articles`), `fresh`
    the new articles of the same batch before this one.
    """
    best: tuple[str, str | None, float] | None = None
    candidates = [(a.id, a.source, other) for a, other, c in fresh if float(c @ centroid) >= CANDIDATE_SIMILARITY]
    for aid, sim, meta, text in neighbours:
        if sim >= CANDIDATE_SIMILARITY:
            candidates.append((aid, meta.get("source"), shingles(text)))
    for aid, source, other in candidates:
        r = resemblance(sh, other)
        if r >= THRESHOLD and (best is None or r > best[2]):
            best = (aid, source, r)
    return best


LOOKUP_WINDOW = 32  # articles whose index records are read together, ahead of their turn


class _Failed:
    """What reading ahead raised, kept for the turn of the item it stood for."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class _Lookups:
    """What the index holds for articles about to be classified, read for a window of them at once:
    three Chroma reads per window instead of two per article. Valid until the next write (`clear`)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.clear()

    def clear(self) -> None:
        self._by_id: dict[str, dict[str, Any] | None] = {}
        self._by_hash: dict[str, list[str]] = {}
        self._by_path: dict[str, list[str]] = {}

    @staticmethod
    def by_content(article: Article) -> bool:
        """Identified by its text, not a URL or id: an edit replaces what was read from the same path."""
        return article.id.startswith("sha256:") and bool(article.path)

    def has(self, article: Article) -> bool:
        return article.id in self._by_id and article.hash in self._by_hash and (
            not self.by_content(article) or str(article.path) in self._by_path)

    def fetch(self, articles: list[Article]) -> None:
        ids = [a.id for a in articles if a.id not in self._by_id]
        hashes = list(dict.fromkeys(a.hash for a in articles if a.hash not in self._by_hash))
        paths = list(dict.fromkeys(str(a.path) for a in articles if self.by_content(a) and str(a.path) not in self._by_path))
        metas = self.store.article_meta(ids)
        self._by_id.update({i: metas.get(i) for i in ids})
        for field, values, found in (("hash", hashes, self._by_hash), ("path", paths, self._by_path)):
            if not values:
                continue
            for v in values:
                found[v] = []
            for aid, meta in self.store.find_articles({field: {"$in": values}}).items():
                found.setdefault(str(meta.get(field)), []).append(aid)

    def meta(self, article_id: str) -> dict[str, Any] | None:
        return self._by_id[article_id]

    def with_hash(self, h: str) -> list[str]:
        return self._by_hash[h]

    def with_path(self, path: str) -> list[str]:
        return self._by_path[path]


def _classify(article: Article, lookups: _Lookups, seen: dict[str, str]) -> str | tuple[str, list[str]] | Skip:
    """'added', 'unchanged', ('updated', ids to replace) or a Skip for a duplicate."""
    h = article.hash
    existing = lookups.meta(article.id)
    if existing is not None:
        return "unchanged" if existing.get("hash") == h else ("updated", [article.id])
    if h in seen and seen[h] != article.id:
        return Skip(article.path or article.id, f"same text as {seen[h]!r}, ingested just before")
    twins = lookups.with_hash(h)
    if twins:
        return Skip(article.path or article.id, f"same text as already-indexed article {twins[0]!r}")
    # A file without URL or id is identified by its content: an edited file replaces what
    # was read from the same path before.
    if article.id.startswith("sha256:") and article.path:
        older = [aid for aid in lookups.with_path(str(article.path)) if aid.startswith("sha256:")]
        if older:
            return ("updated", older)
    return "added"


def reembed(store: Store, batch: int = 512, progress: bool = False) -> int:
    """Encode every chunk again with `store.embedder` and rewrite the vectors; returns the chunks re-embedded.

    The store is marked as being re-embedded first, so an interruption leaves an index that is
    refused with the command that finishes it (this one, run again), never one of mixed vectors
    taken for sound. Texts, metadata and the keyword index stay as they are.
    """
    target = getattr(store.embedder, "encoder", "fp32")
    store.remove_orphans()
    ids = store.chunk_ids()
    store.begin_reembed(target)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(ids), unit="chunk", desc=f"re-embed ({target})", file=sys.stderr, dynamic_ncols=True)
    sums: dict[str, np.ndarray] = {}
    try:
        for i in range(0, len(ids), batch):
            got = store.chunks.get(ids=ids[i : i + batch], include=["documents", "metadatas"])
            vectors = store.embedder.embed([_embedding_text(m.get("title"), d) for d, m in zip(got["documents"], got["metadatas"])])
            store.set_vectors("chunks", list(got["ids"]), vectors)
            for meta, v in zip(got["metadatas"], vectors):
                aid = meta["article_id"]
                sums[aid] = sums[aid] + v if aid in sums else v.copy()
            if bar is not None:
                bar.update(len(got["ids"]))
    finally:
        if bar is not None:
            bar.close()
    # An article's vector is the normalised mean of its chunks' (as put_articles writes it).
    aids = [a for a in store.all_articles() if a in sums]
    centroids = np.asarray([sums[a] / (np.linalg.norm(sums[a]) or 1.0) for a in aids], dtype=np.float32)
    if aids:
        store.set_vectors("articles", aids, centroids)
    store.finish_reembed(target)
    return len(ids)


__all__ = ["embedding_text", "ingest_items", "ingest_paths", "reembed"]

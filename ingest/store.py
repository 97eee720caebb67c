"""The index: the one place chromadb is imported.

Chroma collections hold all state, so an embedded store and a Chroma server behave the same:
- `newsqa_chunks`: one record per chunk (text, article metadata, offsets, vector);
- `newsqa_articles`: one record per article (full text, metadata, content hash, chunk count).

An article's record is written after its chunks and deleted before them: the article record is
the commit marker. Chunks without an article record are leftovers of an interrupted write; they
are never returned and the next ingest removes them.

A third collection, `newsqa_state`, holds what readers need to follow writes made anywhere:
- the write stamp, moved by every write ("<writer>:<n>"), read before each question;
- a change log: every write appends `log:<writer>:<n>` naming the articles it wrote or removed,
  then moves `head:<writer>` to n, then the stamp. Each Store that writes is one writer with its
  own sequence, so concurrent writers on a Chroma server never contend for a number, and a
  reader that has applied writer w's entries up to m reads exactly m+1..head: a missing entry is
  a gap it can see (and answers by reading the whole store). A writer trims its own entries
  beyond the last LOG_KEEP; its head stays (one small record per Store that ever wrote, read
  by a reader only when the stamp moved).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import NewsQAError
from .models import Article, Chunk

CHUNKS = "newsqa_chunks"
ARTICLES = "newsqa_articles"
STATE = "newsqa_state"
SCHEMA_VERSION = 1
# Which encoder made the vectors is in every collection's metadata (the embedder's `encoder`, e.g.
# "int8-avx512_vnni"). Indexes from before it was recorded were all made by the fp32 encoder.
ENCODER_KEY = "encoder"
LEGACY_ENCODER = "fp32"
# The record while `newsqa reindex` rewrites the vectors: the index is refused until it finishes.
REEMBEDDING = "reembedding-to:"
LOG_KEEP = 1000  # change-log entries a writer keeps; a reader further behind reads the whole store


class StoreError(NewsQAError, RuntimeError):
    """The index cannot be used as it is; the message says what to do."""


@dataclass
class Passage:
    """A retrieved chunk with its article's metadata; start/end are offsets into the article."""

    chunk_id: str
    article_id: str
    text: str
    start: int
    end: int
    title: str | None
    source: str | None
    url: str | None
    published_at: str | None
    score: float = 0.0

    @property
    def date(self) -> str | None:
        return self.published_at[:10] if self.published_at else None


def _embedding_function(embedder: Any):
    """Wrap our embedder as a Chroma embedding function, so Chroma never loads its default one."""
    from chromadb.api.types import EmbeddingFunction

    class NewsqaEmbeddingFunction(EmbeddingFunction):
        def __init__(self, embedder: Any = None) -> None:
            self.embedder = embedder

        def __call__(self, input):
            return [v for v in self.embedder.embed(list(input))]

        @staticmethod
        def name() -> str:
            return "newsqa"

        def get_config(self) -> dict[str, Any]:
            return {"model": getattr(self.embedder, "name", "unknown")}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> NewsqaEmbeddingFunction:
            return NewsqaEmbeddingFunction()

        def default_space(self) -> str:
            return "cosine"

        def supported_spaces(self) -> list[str]:
            return ["cosine"]

    return NewsqaEmbeddingFunction(embedder)


def encoder_of(embedder: Any) -> str:
    """The encoder an embedder's vectors come from; one without an `encoder` is a plain fp32 model."""
    return str(getattr(embedder, "encoder", LEGACY_ENCODER))


def day_number(date: str | None) -> int | None:
    """An ISO date as the number stored in chunk metadata for date filters: "2025-03-12" -> 20250312."""
    return int(date[:10].replace("-", "")) if date else None


def _clean_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Chroma metadata can't hold None: unknown fields are left out."""
    return {k: v for k, v in meta.items() if v is not None}


# Embedded Chroma is single-process: one lock per data directory per process.
_LOCKS: dict[str, tuple[int, int]] = {}
_LOCKS_GUARD = threading.Lock()


def _acquire_dir_lock(path: Path) -> str:
    key = str(path.resolve())
    with _LOCKS_GUARD:
        if key in _LOCKS:
            fd, count = _LOCKS[key]
            _LOCKS[key] = (fd, count + 1)
            return key
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / ".newsqa.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(
                f"Another newsqa process is using the index in {path}. Embedded Chroma is "
                "single-process: stop the other process (e.g. `newsqa serve`), add articles "
                "through its page instead, or run a Chroma server (`chroma run`) and point every "
                "process at it with NEWSQA_CHROMA_URL."
            ) from None
        _LOCKS[key] = (fd, 1)
        return key


def _release_dir_lock(key: str) -> None:
    with _LOCKS_GUARD:
        if key not in _LOCKS:
            return
        fd, count = _LOCKS[key]
        if count > 1:
            _LOCKS[key] = (fd, count - 1)
        else:
            del _LOCKS[key]
            os.close(fd)


class _ServerCollection:
    """A collection on a Chroma server: a lost connection becomes a StoreError naming the server.

    The HTTP client reconnects on its own, so once the server is back the next call works.
    """

    def __init__(self, collection: Any, url: str) -> None:
        self._collection, self._url = collection, url

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            import httpx

            try:
                return attr(*args, **kwargs)
            except httpx.TransportError as e:
                raise StoreError(
                    f"Lost the Chroma server at {self._url} ({type(e).__name__}: {e}). Check that `chroma run` "
                    "is up and reachable; newsqa reconnects by itself once it is back."
                ) from e

        return call


class _LocalCollection:
    """A collection of the embedded store: a failure inside Chroma becomes a StoreError that says
    how to rebuild, instead of a raw Chroma/Rust error or a silently empty answer."""

    def __init__(self, collection: Any, root: Path) -> None:
        self._collection, self._root = collection, root

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except StoreError:
                raise
            except (ValueError, TypeError):
                raise  # our own bad arguments, not a damaged index
            except BaseException as e:
                # A Rust panic inside Chroma arrives as pyo3's PanicException, a BaseException.
                if isinstance(e, KeyboardInterrupt | SystemExit | GeneratorExit):
                    raise
                raise StoreError(damaged_message(self._root, e)) from e

        return call


def damaged_message(root: Path | None, error: BaseException) -> str:
    """The error for an index that cannot be read: what failed and the command that rebuilds it."""
    if root is None:
        return (
            f"The index on the Chroma server is damaged or unreadable ({type(error).__name__}: {error}). "
            "Rebuild it: start the server on a fresh `--path` and run `newsqa ingest PATH...` from your articles."
        )
    return (
        f"The index in {root} is damaged or unreadable ({type(error).__name__}: {error}). Move it aside "
        f"(`mv {root} {root}.broken`) and rebuild it with `newsqa ingest PATH...` from your articles."
    )


def _check_layout(root: Path) -> None:
    """Refuse a half-present index: Chroma would silently start an empty one next to the old vectors."""
    chroma = root / "chroma"
    if not chroma.is_dir():
        return
    db = chroma / "chroma.sqlite3"
    segments = [p for p in chroma.iterdir() if p.is_dir() and len(p.name) == 36 and p.name.count("-") == 4]
    if segments and (not db.is_file() or db.stat().st_size == 0):
        raise StoreError(damaged_message(root, FileNotFoundError(f"{db} is missing or empty but vector files remain")))


class Store:
    """Chunks, vectors and articles in Chroma: embedded under `path`, or on a server at `url`."""

    def __init__(
        self,
        embedder: Any,
        path: str | os.PathLike | None = None,
        url: str | None = None,
        client: Any = None,
        check_encoder: bool = True,
    ) -> None:
        """Open (or create) the index.

        `check_encoder=False` opens an index whose vectors another encoder made (or whose re-embed
        was interrupted), for `ingest.pipeline.reembed`; otherwise such an index is refused, or,
        for an embedder asked for "auto", the embedder takes the index's encoder.
        """
        import chromadb
        from chromadb.config import Settings

        self.embedder = embedder
        self._lock_key: str | None = None
        self._root = Path(path) if path is not None else None  # the embedded index's folder, for messages
        settings = Settings(anonymized_telemetry=False)
        if client is not None:
            self.client = client
        elif url:
            from urllib.parse import urlsplit

            parts = urlsplit(url if "://" in url else f"http://{url}")
            try:
                self.client = chromadb.HttpClient(
                    host=parts.hostname or "127.0.0.1",
                    port=parts.port or (443 if parts.scheme == "https" else 8000),
                    ssl=parts.scheme == "https",
                    settings=settings,
                )
                self.client.heartbeat()
            except Exception as e:
                raise StoreError(
                    f"Cannot reach the Chroma server at {url}: {e}. Start it with "
                    "`chroma run --path DIR --port PORT`, or unset NEWSQA_CHROMA_URL to use the embedded store."
                ) from e
        else:
            if path is None:
                raise ValueError("Store needs a path, a url or a client")
            root = Path(path)
            self._lock_key = _acquire_dir_lock(root)
            try:
                _check_layout(root)
                self.client = chromadb.PersistentClient(path=str(root / "chroma"), settings=settings)
            except StoreError:
                _release_dir_lock(self._lock_key)
                raise
            except Exception as e:
                _release_dir_lock(self._lock_key)
                raise StoreError(
                    f"The index in {root} cannot be opened ({e}). It may be corrupt or written by "
                    f"another version: move it aside and rebuild it with `newsqa ingest PATH...`."
                ) from e
        self._ef = _embedding_function(embedder)
        self._url = url
        wanted = {"model": embedder.name, "dim": int(embedder.dim), "schema": SCHEMA_VERSION}
        try:
            self.chunks = self._collection(CHUNKS, wanted)
            self.articles = self._collection(ARTICLES, wanted)
            self.state = self._collection(STATE, wanted)
            self.encoder = self._settle_encoder(check_encoder)
        except StoreError:
            self.close()
            raise
        if url and client is None:
            self.chunks, self.articles, self.state = (_ServerCollection(c, url) for c in (self.chunks, self.articles, self.state))
        elif client is None:
            self.chunks, self.articles, self.state = (_LocalCollection(c, root) for c in (self.chunks, self.articles, self.state))
            try:
                self._check_vectors()
            except StoreError:
                self.close()
                raise
        self._write_lock = threading.RLock()
        self._writer = uuid.uuid4().hex[:16]  # this Store's name in the change log
        self._written = 0  # entries this writer has logged

    def _collection(self, name: str, wanted: dict[str, Any]):
        try:
            col = self.client.get_or_create_collection(
                name,
                metadata={"hnsw:space": "cosine", **wanted, ENCODER_KEY: encoder_of(self.embedder)},
                embedding_function=self._ef,
            )
        except Exception as e:
            raise StoreError(
                f"Cannot open the index collection {name!r} ({e}). If the data directory is from "
                "another newsqa version or damaged, move it aside and rebuild with `newsqa ingest PATH...`."
            ) from e
        meta = col.metadata or {}
        have = {k: meta.get(k) for k in wanted}
        if have != wanted:
            raise StoreError(
                f"The index{f' in {self._root}' if self._root else ''} was built with {have.get('model')} ({have.get('dim')} dimensions, schema "
                f"{have.get('schema')}), but this newsqa uses {wanted['model']} ({wanted['dim']} "
                f"dimensions, schema {wanted['schema']}). Rebuild it: point NEWSQA_DATA_DIR at a new "
                "folder (or move the old one aside) and run `newsqa ingest PATH...`."
            )
        return col

    def _settle_encoder(self, check: bool) -> str:
        """The encoder the index's vectors were made with; refuse (or, for "auto", follow) another one."""
        recorded = [(c.metadata or {}).get(ENCODER_KEY) for c in (self.chunks, self.articles, self.state)]
        have = next((r for r in recorded if r and r.startswith(REEMBEDDING)), None) or recorded[0] or recorded[1]
        if have is None:
            # Not recorded: an index from before encoders were recorded (all fp32), or a new one (ours).
            # (The state collection holds no encoder's vectors, so its record alone does not count.)
            empty = self.chunks.count() == 0 and self.articles.count() == 0
            have = encoder_of(self.embedder) if empty else LEGACY_ENCODER
        if not check:
            return have
        ours = encoder_of(self.embedder)
        if have.startswith(REEMBEDDING):
            target = have[len(REEMBEDDING):]
            raise StoreError(
                f"A re-embed of the index{self._where()} with the {target} encoder was interrupted, so its vectors are "
                f"mixed. Finish it: `{self.reindex_command(target)}`."
            )
        if have != ours:
            adopt = getattr(self.embedder, "adopt", None)
            if adopt is None or not adopt(have):
                asked = getattr(self.embedder, "requested", ours)
                raise StoreError(
                    f"The index{self._where()} holds vectors of the {have} encoder, but this newsqa is set to the {ours} "
                    f"encoder (NEWSQA_ENCODER={asked}); their vectors must not be mixed. Re-embed the index: "
                    f"`{self.reindex_command(asked)}` (every chunk is encoded again; nothing else changes), or set "
                    f"NEWSQA_ENCODER={have} (or auto) to use it as it is."
                )
        if hasattr(self.embedder, "pinned"):
            self.embedder.pinned = True  # this index now relies on the embedder's encoder staying as it is
        return have

    def _where(self) -> str:
        if self._root is not None:
            return f" in {self._root}"
        return f" on the Chroma server at {self._url}" if self._url else ""

    def reindex_command(self, encoder: str) -> str:
        """The command that re-embeds this index with `encoder`."""
        cmd = ["newsqa", "reindex", "--encoder", encoder]
        if self._root is not None:
            cmd += ["--data-dir", str(self._root)]
        elif self._url:
            cmd += ["--chroma-url", self._url]
        return " ".join(cmd)

    def _record_encoder(self, value: str) -> None:
        for col in (self.chunks, self.articles, self.state):
            meta = {k: v for k, v in (col.metadata or {}).items() if not k.startswith("hnsw:")}  # the space cannot change
            col.modify(metadata={**meta, ENCODER_KEY: value})

    def begin_reembed(self, encoder: str) -> None:
        """Mark the index as being re-embedded with `encoder`: refused by others until `finish_reembed`."""
        with self._write_lock:
            self._record_encoder(REEMBEDDING + encoder)
            self.encoder = REEMBEDDING + encoder
            self._touch()

    def finish_reembed(self, encoder: str) -> None:
        with self._write_lock:
            self._record_encoder(encoder)
            self.encoder = encoder
            self._touch()

    def set_vectors(self, kind: str, ids: list[str], vectors: np.ndarray) -> None:
        """Replace the vectors of chunk (`kind="chunks"`) or article records, keeping their text and metadata."""
        col = {"chunks": self.chunks, "articles": self.articles}[kind]
        with self._write_lock:
            step = max(1, min(self.client.get_max_batch_size(), 5000))
            for i in range(0, len(ids), step):
                col.update(ids=ids[i : i + step], embeddings=np.asarray(vectors[i : i + step], dtype=np.float32))

    def chunk_ids(self) -> list[str]:
        return list(self.chunks.get(include=[])["ids"])

    def _check_vectors(self) -> None:
        """Find a few stored vectors again by vector search.

        Chroma keeps vectors in its own segment files next to the SQLite database; when they are
        truncated or lost, reads of the database still work and searches return nothing or fail
        later. Probing spread-out records here turns that into an error at open.
        """
        for col in (self.chunks, self.articles):
            n = col.count()
            if n == 0:
                continue
            vectors = []
            for offset in sorted({0, n // 3, (2 * n) // 3, n - 1}):
                got = col.get(limit=1, offset=offset, include=["embeddings"])
                if got["embeddings"] is not None and len(got["embeddings"]):
                    vectors.append(got["embeddings"][0])
            found = col.query(query_embeddings=np.asarray(vectors, dtype=np.float32), n_results=1, include=["distances"]) if vectors else None
            if found is None or any(not d or d[0] > 1e-3 for d in found["distances"]):
                raise StoreError(damaged_message(self._root, LookupError(f"stored vectors of {col.name!r} are not found by search")))

    def close(self) -> None:
        if self._lock_key:
            _release_dir_lock(self._lock_key)
            self._lock_key = None

    def stamp(self) -> str:
        """Changes on every write, in every process: readers compare it to know they are stale.

        The stamp also carries the encoder of the last write: when another process has re-embedded
        a shared index (a Chroma server) with another encoder, this process must not go on asking it
        with its own vectors.
        """
        got = self.state.get(ids=["stamp"], include=["metadatas"])
        if not got["ids"]:
            return ""
        meta = got["metadatas"][0]
        other = meta.get(ENCODER_KEY)
        if other and other.startswith(REEMBEDDING) and other != self.encoder:
            raise StoreError(f"The index{self._where()} is being re-embedded by another process (`newsqa reindex`); "
                             "ask again once it has finished, then restart this process.")
        if other and other != self.encoder:
            raise StoreError(
                f"The index{self._where()} was re-embedded with the {other} encoder by another process; this one uses "
                f"{self.encoder}. Restart it (with NEWSQA_ENCODER=auto or {other}) to use the new vectors."
            )
        return meta["value"]

    def _touch(self, article_ids: Iterable[str] = ()) -> None:
        """Log a write of these articles, then move this writer's head and the stamp (in that order:
        a reader that sees the stamp sees the head, and one that sees the head finds the entry)."""
        unit = np.zeros(int(self.embedder.dim), dtype=np.float32)
        unit[0] = 1.0
        self._written += 1
        w, n = self._writer, self._written
        # Entries get spread-out vectors: thousands of equal ones make a poor HNSW graph to insert into.
        spread = np.random.default_rng().standard_normal(int(self.embedder.dim)).astype(np.float32)
        self.state.add(
            ids=[f"log:{w}:{n}"], embeddings=[spread / np.linalg.norm(spread)],
            metadatas=[{"kind": "log", "writer": w, "n": n, "articles": json.dumps(sorted(set(article_ids)))}],
        )
        self.state.upsert(ids=[f"head:{w}"], embeddings=[unit], metadatas=[{"kind": "head", "writer": w, "n": n, "at": int(time.time())}])
        # The stamp carries the encoder too (see `stamp`).
        self.state.upsert(ids=["stamp"], embeddings=[unit], metadatas=[{"value": f"{w}:{n}", ENCODER_KEY: self.encoder}])
        if n > LOG_KEEP and n % 100 == 0:
            self.state.delete(where={"$and": [{"kind": "log"}, {"writer": w}, {"n": {"$lte": n - LOG_KEEP}}]})

    def log_position(self) -> dict[str, int]:
        """The change log's heads: writer -> its last entry. Read it before reading the data it covers."""
        got = self.state.get(where={"kind": "head"}, include=["metadatas"])
        return {m["writer"]: int(m["n"]) for m in got["metadatas"]}

    def changes_since(self, position: dict[str, int], stamp: str | None = None) -> tuple[dict[str, int], set[str]] | None:
        """The articles written or removed since `position`, and the new position.

        None when the log cannot say (a gap, or a write by a newsqa without the log): then read
        the whole store.

        Args:
            position: writer -> last entry already applied (from `log_position` or an earlier call).
            stamp: the stamp just read; one the log does not account for gives None.
        """
        heads = self.log_position()
        if any(heads.get(w, -1) < n for w, n in position.items()):
            return None  # a writer's log was removed, or went back
        if stamp:
            w, _, n = stamp.rpartition(":")
            if not w or not n.isdigit() or heads.get(w, -1) < int(n):
                return None
        want = [f"log:{w}:{i}" for w, n in heads.items() for i in range(position.get(w, 0) + 1, n + 1)]
        if len(want) > LOG_KEEP:
            return None  # reading the whole store is no dearer than this many entries
        changed: set[str] = set()
        if want:
            got = self.state.get(ids=want, include=["metadatas"])
            if len(got["ids"]) != len(want):
                return None  # trimmed entries: a gap
            for meta in got["metadatas"]:
                changed.update(json.loads(meta["articles"]))
        return heads, changed

    # --- reading ------------------------------------------------------------------------------

    def counts(self) -> tuple[int, int]:
        """(articles, chunks) currently indexed."""
        return self.articles.count(), self.chunks.count()

    def article_meta(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        got = self.articles.get(ids=ids, include=["metadatas"])
        return dict(zip(got["ids"], got["metadatas"]))

    def find_articles(self, where: dict[str, Any]) -> dict[str, dict[str, Any]]:
        got = self.articles.get(where=where, include=["metadatas"])
        return dict(zip(got["ids"], got["metadatas"]))

    def article_text(self, article_id: str) -> str | None:
        got = self.articles.get(ids=[article_id], include=["documents"])
        return got["documents"][0] if got["ids"] else None

    def all_articles(self) -> dict[str, dict[str, Any]]:
        got = self.articles.get(include=["metadatas"])
        return dict(zip(got["ids"], got["metadatas"]))

    def similar_articles(self, centroid: np.ndarray, k: int) -> list[tuple[str, float, dict[str, Any], str]]:
        """Articles whose chunk centroid is nearest `centroid`: (id, cosine similarity, metadata, text)."""
        return self.similar_articles_many(np.asarray([centroid]), k)[0]

    def similar_articles_many(self, centroids: np.ndarray, k: int) -> list[list[tuple[str, float, dict[str, Any], str]]]:
        """`similar_articles` for each row of `centroids`, in one Chroma query."""
        if len(centroids) == 0:
            return []
        # No count first (a call per ingested article): Chroma returns fewer than k when it holds fewer.
        res = self.articles.query(
            query_embeddings=np.asarray(centroids, dtype=np.float32),
            n_results=k,
            include=["documents", "metadatas", "distances"],
        )
        return [
            [(aid, 1.0 - dist, meta, doc) for aid, dist, meta, doc in zip(ids, dists, metas, docs)]
            for ids, dists, metas, docs in zip(res["ids"], res["distances"], res["metadatas"], res["documents"])
        ]

    def update_article_meta(self, article_id: str, fields: dict[str, Any]) -> None:
        """Merge `fields` into an article record's metadata (its text, chunks and vectors stay)."""
        with self._write_lock:
            self.articles.update(ids=[article_id], metadatas=[_clean_meta(fields)])
            self._touch([article_id])

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[Passage]:
        """Nearest chunks to `vector`, best first; leftovers of interrupted writes are dropped."""
        # Chroma returns fewer than k when it holds fewer; counting first would cost a call per query.
        res = self.chunks.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=k,
            where=where or None,
            include=["documents", "metadatas", "distances"],
        )
        if not res["ids"][0] and not where and self.chunks.count() > 0:
            # Records exist but vector search finds none of them: the vector files are gone.
            raise StoreError(damaged_message(self._root, LookupError("vector search returned nothing")))
        passages = [
            passage_from_record(cid, doc, meta, 1.0 - dist)
            for cid, doc, meta, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0])
        ]
        live = self.article_meta(p.article_id for p in passages)
        return [p for p in passages if p.article_id in live]

    def get_chunks(self, ids: list[str]) -> list[Passage]:
        got = self.chunks.get(ids=ids, include=["documents", "metadatas"])
        by_id = {cid: passage_from_record(cid, doc, meta, 0.0) for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"])}
        return [by_id[i] for i in ids if i in by_id]

    def chunks_of(self, article_ids: list[str]) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
        """The chunks (id, text, metadata) of these articles, by article, in text order."""
        if not article_ids:
            return {}
        got = self.chunks.get(where={"article_id": {"$in": list(article_ids)}}, include=["documents", "metadatas"])
        out: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"]):
            out.setdefault(meta["article_id"], []).append((cid, doc, meta))
        for chunks in out.values():
            chunks.sort(key=lambda c: (int(c[2].get("index") or 0), c[0]))
        return out

    def iter_chunks(self, batch: int = 2000):
        """Every chunk (id, text, metadata), in pages, for building the keyword index."""
        offset = 0
        while True:
            got = self.chunks.get(include=["documents", "metadatas"], limit=batch, offset=offset)
            if not got["ids"]:
                return
            yield from zip(got["ids"], got["documents"], got["metadatas"])
            offset += len(got["ids"])

    # --- writing ------------------------------------------------------------------------------

    def put_articles(self, items: list[tuple[Article, list[Chunk], np.ndarray]], replace: Iterable[str] = ()) -> None:
        """Write articles with their chunks and vectors, in as few Chroma calls as possible.

        `replace` names article ids to remove first (updated articles). Every chunk is written
        before any article record, so an interrupted call leaves only orphan chunks.
        """
        if not items:
            return
        with self._write_lock:
            for article_id in replace:
                self.delete_article(article_id)
            ids, docs, vecs, metas = [], [], [], []
            for article, chunks, vectors in items:
                base = _article_meta(article)
                for c, v in zip(chunks, vectors):
                    ids.append(c.id)
                    docs.append(c.text)
                    vecs.append(v)
                    metas.append(_clean_meta({**base, "start": c.start, "end": c.end, "index": c.index}))
            step = max(1, min(self.client.get_max_batch_size(), 5000))
            for i in range(0, len(ids), step):
                self.chunks.add(
                    ids=ids[i : i + step],
                    documents=docs[i : i + step],
                    embeddings=np.asarray(vecs[i : i + step], dtype=np.float32),
                    metadatas=metas[i : i + step],
                )
            centroids = []
            for _, _, vectors in items:
                c = vectors.mean(axis=0)
                centroids.append(c / (np.linalg.norm(c) or 1.0))
            self.articles.add(
                ids=[a.id for a, _, _ in items],
                documents=[a.text for a, _, _ in items],
                embeddings=np.asarray(centroids, dtype=np.float32),
                metadatas=[
                    _clean_meta({**_article_meta(a), "hash": a.hash, "n_chunks": len(ch), "path": a.path})
                    for a, ch, _ in items
                ],
            )
            self._touch(a.id for a, _, _ in items)

    def delete_article(self, article_id: str) -> None:
        with self._write_lock:
            self.articles.delete(ids=[article_id])
            self.chunks.delete(where={"article_id": article_id})
            self._touch([article_id])

    def remove_orphans(self) -> int:
        """Delete chunks whose article record is missing (an interrupted write); returns how many."""
        with self._write_lock:
            live = set(self.articles.get(include=[])["ids"])
            orphans = {meta["article_id"] for _, _, meta in self.iter_chunks() if meta.get("article_id") not in live}
            for aid in orphans:
                self.chunks.delete(where={"article_id": aid})
            return len(orphans)

    def verify(self, page: int = 1000) -> list[str]:
        """Check that the index agrees with itself; returns the problems found (empty when sound).

        Every article record's chunk count matches its chunks, no chunk lacks its article record
        (an interrupted write the next ingest would remove), no text is stored twice, and every
        chunk's vector is found again by vector search.
        """
        articles = self.all_articles()
        problems: list[str] = []
        per_article: dict[str, int] = {}
        lost_vectors = offset = 0
        while True:
            got = self.chunks.get(include=["metadatas", "embeddings"], limit=page, offset=offset)
            if not got["ids"]:
                break
            for meta in got["metadatas"]:
                per_article[meta["article_id"]] = per_article.get(meta["article_id"], 0) + 1
            found = self.chunks.query(query_embeddings=np.asarray(got["embeddings"], dtype=np.float32), n_results=1, include=["distances"])
            lost_vectors += sum(1 for d in found["distances"] if not d or d[0] > 1e-3)
            offset += len(got["ids"])
        for aid, meta in articles.items():
            if per_article.get(aid, 0) != meta.get("n_chunks"):
                problems.append(f"article {aid!r} has {per_article.get(aid, 0)} chunks, its record says {meta.get('n_chunks')}")
        orphans = sorted(set(per_article) - set(articles))
        if orphans:
            n = sum(per_article[a] for a in orphans)
            problems.append(f"{n} chunks of {len(orphans)} unfinished articles (an interrupted ingest; the next ingest removes them)")
        by_hash: dict[str, list[str]] = {}
        for aid, meta in articles.items():
            by_hash.setdefault(meta.get("hash", aid), []).append(aid)
        problems += [f"the same text is stored as {', '.join(map(repr, ids))}" for ids in by_hash.values() if len(ids) > 1]
        if lost_vectors:
            problems.append(f"{lost_vectors} chunk vectors are not found by vector search")
        return problems


def _article_meta(article: Article) -> dict[str, Any]:
    return {
        "article_id": article.id,
        "title": article.title,
        "source": article.source,
        "url": article.url,
        "published_at": article.published_at,
        "day": day_number(article.published_at),
        "author": article.author,
    }


def passage_from_record(cid: str, doc: str, meta: dict[str, Any], score: float) -> Passage:
    return Passage(
        chunk_id=cid,
        article_id=meta["article_id"],
        text=doc,
        start=int(meta["start"]),
        end=int(meta["end"]),
        title=meta.get("title"),
        source=meta.get("source"),
        url=meta.get("url"),
        published_at=meta.get("published_at"),
        score=float(score),
    )

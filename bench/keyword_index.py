"""The keyword (BM25) index as the archive grows: a full build, one article's add and remove, queries.

    python bench/keyword_index.py [--cache DIR] [--scale 10] [--repeats 5]

1. The realtimeqa_news index, with real vectors (the bundled MiniLM; built under --cache if
   absent, about ten minutes on 2 cores, then reused).
2. A copy of it grown to `--scale` times its chunk count with copies of its articles: each copy
   has its own id, url and title ("... (archive copy k)") and a last line naming the copy, so the
   content hash and the syndication check see distinct articles. Copies are written through
   `Store.put_articles` with the originals' vectors nudged by small noise (no embedding: the
   keyword index does not read vectors, and dense search over near-copies costs what it would
   over new articles). Built once under --cache.

On each index:
- full build: a new KeywordIndex synced from the store, then one chunk and one article search
  (what a worker pays at its first question);
- add one article / remove one article: `Store.put_articles` of one new article (a copy, with
  vectors) or `Store.delete_article`, then an up-to-date keyword index catching up with the
  store (`sync`, then one chunk and one article search, which is when derived weights are
  brought up to date); the store write is timed apart;
- the keyword searches alone on an up-to-date index;
- query p50/p95: every realtimeqa dev question through `Retriever.retrieve(question, 10,
  today=question_date)`, the real embedder and the real retrieval path (as bench/run_latency.py).

Medians of `--repeats` runs. Writes bench/out/keyword_index.json and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"
CORPUS = EVAL / "realtimeqa_news" / "corpus.jsonl"
QUESTIONS = EVAL / "realtimeqa_news" / "questions_dev.jsonl"
PROBE = "Who won the election?"  # a keyword search that touches common terms


def article_copies(store, article_ids: list[str], copy_no: int, rng: np.random.Generator) -> list:
    """(Article, chunks, vectors) of copies of stored articles: distinct ids, urls, titles and texts."""
    from ingest.chunking import chunk_id
    from ingest.models import Article, Chunk

    got = store.chunks.get(where={"article_id": {"$in": article_ids}}, include=["documents", "metadatas", "embeddings"])
    texts = store.articles.get(ids=article_ids, include=["documents"])
    text_of = dict(zip(texts["ids"], texts["documents"]))
    by_article: dict[str, list] = {}
    for doc, meta, vec in zip(got["documents"], got["metadatas"], got["embeddings"]):
        by_article.setdefault(meta["article_id"], []).append((meta, doc, vec))
    items = []
    for aid, rows in by_article.items():
        rows.sort(key=lambda r: r[0]["index"])
        m = rows[0][0]
        new_id = f"{aid}#archive{copy_no}"
        # The copy's own last line makes its content hash new; chunk offsets stay valid.
        text = f"{text_of.get(aid) or ''}\n\n(Archive copy {copy_no} of {aid}.)"
        url = f"{m['url']}#archive{copy_no}" if m.get("url") else None
        article = Article(id=new_id, text=text, title=f"{m.get('title') or ''} (archive copy {copy_no})".strip(),
                          source=m.get("source"), url=url, published_at=m.get("published_at"))
        chunks = [Chunk(chunk_id(new_id, r[0]["index"]), new_id, r[1], r[0]["start"], r[0]["end"], r[0]["index"]) for r in rows]
        vecs = np.asarray([r[2] for r in rows], dtype=np.float32)
        vecs = vecs + rng.normal(0, 0.02, vecs.shape).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        items.append((article, chunks, vecs))
    return items


def grow(store, target_chunks: int, seed: int = 0) -> None:
    """Add archive copies of the stored articles until the store holds `target_chunks` chunks."""
    rng = np.random.default_rng(seed)
    originals = sorted(aid for aid in store.all_articles() if "#archive" not in aid)
    copy_no = 0
    while store.counts()[1] < target_chunks:
        copy_no += 1
        for start in range(0, len(originals), 100):
            store.put_articles(article_copies(store, originals[start : start + 100], copy_no, rng))
            if store.counts()[1] >= target_chunks:
                break
        print(f"grown to {store.counts()[1]} chunks", file=sys.stderr, flush=True)


def keyword_pass(keyword) -> None:
    """What a question asks of the keyword index: one chunk search and one article search."""
    keyword.search(PROBE, 40)
    keyword.search_articles(PROBE, 40)


def measure_keyword(store, repeats: int, seed: int) -> dict:
    from ingest.keyword import KeywordIndex

    out: dict[str, list[float]] = {"full_build_s": [], "add_catch_up_ms": [], "remove_catch_up_ms": [],
                                   "add_store_write_ms": [], "remove_store_write_ms": [], "keyword_searches_ms": []}
    for _ in range(repeats):
        keyword = KeywordIndex()
        t = time.perf_counter()
        keyword.sync(store)
        keyword_pass(keyword)
        out["full_build_s"].append(time.perf_counter() - t)
    rng = np.random.default_rng(seed)
    originals = sorted(aid for aid in store.all_articles() if "#" not in aid)
    for r in range(repeats):
        t = time.perf_counter()
        keyword_pass(keyword)
        out["keyword_searches_ms"].append((time.perf_counter() - t) * 1000)
        # One article: a copy of an original with several chunks, under an id not used before.
        source = originals[(r * 37) % len(originals)]
        items = article_copies(store, [source], 1000 + r, rng)
        t = time.perf_counter()
        store.put_articles(items)
        out["add_store_write_ms"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        keyword.sync(store)
        keyword_pass(keyword)
        out["add_catch_up_ms"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        store.delete_article(items[0][0].id)
        out["remove_store_write_ms"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        keyword.sync(store)
        keyword_pass(keyword)
        out["remove_catch_up_ms"].append((time.perf_counter() - t) * 1000)
    articles, chunks = store.counts()
    summary = {k: round(float(np.median(v)), 3 if k.endswith("_s") else 1) for k, v in out.items()}
    return {"articles": articles, "chunks": chunks, **summary, "runs": {k: [round(x, 4) for x in v] for k, v in out.items()}}


def measure_queries(qa, questions) -> dict:
    r = qa.retriever
    r.retrieve("warm up", 10)  # the first question builds the keyword index: not query latency
    ms = []
    for q in questions:
        t = time.perf_counter()
        r.retrieve(q.question, 10, today=q.question_date)
        ms.append((time.perf_counter() - t) * 1000)
    return {"queries": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default="/tmp/newsqa-bench/keyword")
    ap.add_argument("--scale", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "keyword_index.json"))
    ap.add_argument("--scratch", default=None, help="Where the measured copies go (default: under --cache).")
    args = ap.parse_args()
    from app import NewsQA
    from app.evaluation import load_questions
    from ingest.embedder import Embedder

    embedder = Embedder()
    cache = Path(args.cache)
    questions = load_questions(QUESTIONS)
    base_dir, big_dir = cache / "realtimeqa", cache / f"realtimeqa-x{args.scale:g}"
    qa = NewsQA(base_dir, embedder=embedder)
    if qa.store.counts()[0] == 0:
        qa.ingest(CORPUS, progress=True)
    base_chunks = qa.store.counts()[1]
    qa.store.close()
    if not big_dir.exists():
        shutil.copytree(base_dir, big_dir, ignore=shutil.ignore_patterns(".newsqa.lock"))
        big = NewsQA(big_dir, embedder=embedder)
        grow(big.store, int(base_chunks * args.scale))
        big.store.close()

    results = {}
    for name, d in (("realtimeqa", base_dir), (f"{args.scale:g}x realtimeqa", big_dir)):
        # Each index is measured on a scratch copy: the adds and removes leave the cached one as built.
        # (One folder per index: Chroma keeps a client per path for the life of the process.)
        scratch = Path(args.scratch or cache) / f"scratch-{d.name}"
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(d, scratch, ignore=shutil.ignore_patterns(".newsqa.lock"))
        qa = NewsQA(scratch, embedder=embedder)
        results[name] = {**measure_keyword(qa.store, args.repeats, seed=1), **measure_queries(qa, questions)}
        qa.store.close()
        shutil.rmtree(scratch, ignore_errors=True)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "load_avg": os.getloadavg(), "commit": commit,
            "run_at": datetime.now(UTC).isoformat(timespec="seconds"), "command": " ".join(["python", *sys.argv])}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, **results}, indent=1))
    print("| index | articles | chunks | full build s | add: catch-up ms (store write ms) | remove: catch-up ms (store write ms) "
          "| keyword searches ms | query p50 ms | query p95 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['articles']:,} | {r['chunks']:,} | {r['full_build_s']} | {r['add_catch_up_ms']} ({r['add_store_write_ms']}) "
              f"| {r['remove_catch_up_ms']} ({r['remove_store_write_ms']}) | {r['keyword_searches_ms']} | {r['p50_ms']} | {r['p95_ms']} |")
    print(f"\ncommit {commit}, load average at the end: {meta['load_avg']}")


if __name__ == "__main__":
    main()

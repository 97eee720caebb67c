"""Retrieval latency over the realtimeqa index, and over an index about 10x larger.

    python bench/run_latency.py [--cache /tmp/newsqa-bench] [--scale 10] [--no-combined]

1. The realtimeqa_news index (cached by bench/run_retrieval.py, built here if absent): every dev
   question through `Retriever.retrieve(question, 10, today=question_date)`, timed one by one.
2. A combined index: all four corpora of ../shared/eval ingested together, padded to `--scale`
   times the realtimeqa chunk count with copies of the real articles (new ids, the same text,
   vectors nudged by small noise, so neither the HNSW graph nor BM25 sees exact duplicates;
   embedding 60,000 new chunks would take hours on 2 cores). The same questions again.

With --no-combined, step 2 pads a copy of the realtimeqa index instead (no new embedding: minutes,
not the half hour the combined ingest takes on 2 cores).

Writes bench/out/latency.json and prints a Markdown table. Needs a quiet machine to mean much.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"
SETS = ["realtimeqa_news", "beir_scifact", "multihop_rag_evidence", "squad2_dev_sample"]


def timings(qa, questions) -> list[float]:
    r = qa.retriever
    r.retrieve("warm up", 10)  # builds the keyword index: a one-off per process, not per query
    out = []
    for q in questions:
        t = time.perf_counter()
        r.retrieve(q.question, 10, today=q.question_date)
        out.append((time.perf_counter() - t) * 1000)
    return out


def pad(qa, target_chunks: int, seed: int = 0) -> None:
    """Add noisy copies of the indexed articles until the index holds `target_chunks` chunks."""
    from ingest.chunking import chunk_id
    from ingest.models import Article, Chunk

    rng = np.random.default_rng(seed)
    store = qa.store
    originals = [aid for aid in store.all_articles() if "#copy" not in aid]
    copy_no = 0
    while store.counts()[1] < target_chunks:
        copy_no += 1
        for start in range(0, len(originals), 200):
            ids = originals[start : start + 200]
            got = store.chunks.get(where={"article_id": {"$in": ids}}, include=["documents", "metadatas", "embeddings"])
            by_article: dict[str, list] = {}
            for _cid, doc, meta, vec in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"]):
                by_article.setdefault(meta["article_id"], []).append((meta, doc, vec))
            items = []
            for aid, rows in by_article.items():
                rows.sort(key=lambda r: r[0]["index"])
                m = rows[0][0]
                new_id = f"{aid}#copy{copy_no}"
                text = store.article_text(aid) or ""
                article = Article(id=new_id, text=text, title=m.get("title"), source=m.get("source"), url=m.get("url"),
                                  published_at=m.get("published_at"))
                chunks = [Chunk(chunk_id(new_id, r[0]["index"]), new_id, r[1], r[0]["start"], r[0]["end"], r[0]["index"]) for r in rows]
                vecs = np.asarray([r[2] for r in rows], dtype=np.float32)
                vecs = vecs + rng.normal(0, 0.02, vecs.shape).astype(np.float32)
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                items.append((article, chunks, vecs))
            store.put_articles(items)
            if store.counts()[1] >= target_chunks:
                break
            print(f"padded to {store.counts()[1]} chunks", file=sys.stderr, flush=True)


def summary(ms: list[float], qa) -> dict:
    articles, chunks = qa.store.counts()
    return {"articles": articles, "chunks": chunks, "queries": len(ms),
            "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "mean_ms": round(float(np.mean(ms)), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default="/tmp/newsqa-bench")
    ap.add_argument("--scale", type=float, default=10.0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "latency.json"))
    ap.add_argument("--no-combined", dest="combined", action="store_false",
                    help="Pad a copy of the realtimeqa index instead of ingesting all four corpora.")
    args = ap.parse_args()
    from app import NewsQA
    from app.core import build_embedder
    from app.evaluation import load_questions

    embedder = build_embedder()
    cache = Path(args.cache)
    questions = load_questions(EVAL / "realtimeqa_news" / "questions_dev.jsonl")
    results = {}
    qa = NewsQA(cache / "realtimeqa_news" / "newsqa", embedder=embedder)
    qa.ingest(EVAL / "realtimeqa_news" / "corpus.jsonl", progress=True)
    base_chunks = qa.store.counts()[1]
    results["realtimeqa"] = summary(timings(qa, questions), qa)
    qa.store.close()

    if args.combined:
        big = NewsQA(cache / "combined" / "newsqa", embedder=embedder)
        big.ingest(*[EVAL / s / "corpus.jsonl" for s in SETS], progress=True)
        results["all four corpora"] = summary(timings(big, questions), big)
    else:
        copy = cache / "padded" / "newsqa"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(cache / "realtimeqa_news" / "newsqa", copy)
        big = NewsQA(copy, embedder=embedder)
    pad(big, int(base_chunks * args.scale))
    results[f"{args.scale:g}x realtimeqa (padded)"] = summary(timings(big, questions), big)
    big.store.close()

    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "load_avg": os.getloadavg(),
            "run_at": datetime.now(UTC).isoformat(timespec="seconds"), "command": " ".join(["python", *sys.argv])}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, **results}, indent=1))
    print("| index | articles | chunks | p50 ms | p95 ms |\n|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['articles']} | {r['chunks']} | {r['p50_ms']} | {r['p95_ms']} |")
    print(f"\nload average during the run: {meta['load_avg']}")


if __name__ == "__main__":
    main()

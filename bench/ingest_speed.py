"""Ingest throughput next to the bare encoder, time to first answer, and peak memory.

    python bench/ingest_speed.py [--corpus ../shared/eval/realtimeqa_news/corpus.jsonl] [--out bench/out/ingest_speed.json]

Prints a Markdown table for BENCHMARKS.md. Run it on a quiet machine: both cores matter.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "eval" / "realtimeqa_news" / "corpus.jsonl"


def encoder_vs_ingest(corpus: Path) -> dict:
    from app import NewsQA
    from app.core import build_embedder
    from ingest.chunking import chunk_article
    from ingest.loaders import load
    from ingest.models import Article
    from ingest.pipeline import embedding_text

    embedder = build_embedder()
    embedder.embed(["warm up"])
    texts = []
    for a in load([corpus]):
        if isinstance(a, Article):
            texts += [embedding_text(a, c) for c in chunk_article(a.id, a.text)]
    # The bare encoder, on exactly the texts ingest embeds, in the same batches.
    t = time.perf_counter()
    step = 512
    for i in range(0, len(texts), step):
        embedder.embed(texts[i : i + step])
    encoder_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d:
        qa = NewsQA(d, embedder=embedder)
        t = time.perf_counter()
        report = qa.ingest(corpus)
        ingest_s = time.perf_counter() - t
        qa.store.close()
    return {
        "chunks": len(texts),
        "chunks_added": report.chunks_added,
        "articles": report.added,
        "encoder_chunks_per_s": round(len(texts) / encoder_s, 1),
        "ingest_chunks_per_s": round(report.chunks_added / ingest_s, 1),
        "ratio": round((report.chunks_added / ingest_s) / (len(texts) / encoder_s), 3),
        "ingest_s": round(ingest_s, 1),
    }


_ASK = """
import json, sys, time
t0 = time.perf_counter()
from app import NewsQA
qa = NewsQA(sys.argv[1])
q = "Who controls Deir Ezzor?"
a = qa.ask(q, mode=sys.argv[2])
cold = time.perf_counter() - t0
t = time.perf_counter()
qa.ask("How long was the siege of Deir Ezzor?", mode=sys.argv[2])
warm = time.perf_counter() - t
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"cold_s": round(cold, 2), "warm_s": round(warm, 2), "peak_rss_mb": round(hwm / 1024)}))
"""


def first_answer() -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "NEWSQA_DATA_DIR": d}
        subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(ROOT / "seeds"), "--json"], env=env, check=True, capture_output=True)
        for mode in ("extractive", "generative"):
            r = subprocess.run([sys.executable, "-c", _ASK, d, mode], env=env, check=True, capture_output=True, text=True)
            out[mode] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "ingest_speed.json")
    args = ap.parse_args()
    result = {"date": time.strftime("%Y-%m-%d"), "corpus": args.corpus.name, "ingest": encoder_vs_ingest(args.corpus)}
    result["first_answer"] = first_answer()
    result["ingest_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    i, f = result["ingest"], result["first_answer"]
    print("| figure | value |\n|---|---|")
    print(f"| ingest throughput ({i['articles']} articles, {i['chunks_added']} chunks) | {i['ingest_chunks_per_s']} chunks/s |")
    print(f"| bare encoder, same chunk texts, same run | {i['encoder_chunks_per_s']} chunks/s |")
    print(f"| ingest / encoder | {i['ratio']} |")
    for mode, v in f.items():
        print(f"| first answer, {mode}, cold process (imports + models + answer) | {v['cold_s']} s |")
        print(f"| next answer, {mode}, warm | {v['warm_s']} s |")
        print(f"| peak memory, {mode} ask process | {v['peak_rss_mb']} MB |")
    print(f"| peak memory, ingest process | {result['ingest_peak_rss_mb']} MB |")


if __name__ == "__main__":
    main()

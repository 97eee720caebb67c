"""Ingest throughput next to the bare encoder, time to first answer, and peak memory.

    python bench/ingest_speed.py [--corpus ../shared/eval/realtimeqa_news/corpus.jsonl] [--out bench/out/ingest_speed.json]
    python bench/ingest_speed.py --articles 300 --encoder int8 --no-first-answer   # the encoder and ingest only

The bare encoder and the ingest run in the same process, one after the other, on the same chunk
texts, with the encoder chosen by --encoder (NEWSQA_ENCODER values; default auto).

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


def encoder_vs_ingest(corpus: Path, encoder: str = "auto", articles: int | None = None, background: bool = False) -> dict:
    from app.core import build_embedder
    from ingest.chunking import chunk_article
    from ingest.loaders import load
    from ingest.models import Article
    from ingest.pipeline import embedding_text

    embedder = build_embedder(encoder=encoder)
    embedder.embed(["warm up"])
    texts = []
    with tempfile.TemporaryDirectory() as d:
        if articles is not None:  # the first N records, as a file of their own, so ingest reads the same
            subset = Path(d) / corpus.name
            with open(corpus, encoding="utf-8") as src, open(subset, "w", encoding="utf-8") as dst:
                dst.writelines(line for _, line in zip(range(articles), (x for x in src if x.strip())))
            corpus = subset
        for a in load([corpus]):
            if isinstance(a, Article):
                texts += [embedding_text(a, c) for c in chunk_article(a.id, a.text)]
        return _encoder_then_ingest(corpus, embedder, texts, background)


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (ingest's encoder process)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def _encoder_then_ingest(corpus: Path, embedder, texts: list[str], background: bool = False) -> dict:
    from app import NewsQA
    from ingest.pipeline import ingest_paths

    def bare() -> tuple[float, float]:
        # The bare encoder, on exactly the texts ingest embeds, in the same batches.
        t, c = time.perf_counter(), _cpu()
        step = 512
        for i in range(0, len(texts), step):
            embedder.embed(texts[i : i + step])
        return time.perf_counter() - t, _cpu() - c

    # Encoder, ingest, encoder again: a load that changes during the run weighs on both sides.
    first = bare()
    with tempfile.TemporaryDirectory() as d:
        qa = NewsQA(d, embedder=embedder)
        t, c = time.perf_counter(), _cpu()
        # NewsQA.ingest's own call, with the choice of running the encoder in a child process.
        report = ingest_paths([corpus], qa.store, background_encoder=background)
        ingest_s, ingest_cpu = time.perf_counter() - t, _cpu() - c
        qa.store.close()
    second = bare()
    encoder_s, encoder_cpu = (first[0] + second[0]) / 2, (first[1] + second[1]) / 2
    return {
        "encoder_runs_s": [round(first[0], 1), round(second[0], 1)],
        "cpu_ratio": round(encoder_cpu / ingest_cpu * report.chunks_added / len(texts), 3),
        "chunks": len(texts),
        "chunks_added": report.chunks_added,
        "articles": report.added,
        "encoder_chunks_per_s": round(len(texts) / encoder_s, 1),
        "ingest_chunks_per_s": round(report.chunks_added / ingest_s, 1),
        "ratio": round((report.chunks_added / ingest_s) / (len(texts) / encoder_s), 3),
        "ingest_s": round(ingest_s, 1),
        "encoder_s": round(encoder_s, 1),
        "encoder": embedder.encoder,
        "background_encoder": background,
        "ingest_cpu_s": round(ingest_cpu, 1),
        "encoder_cpu_s": round(encoder_cpu, 1),
        "load_avg_after": os.getloadavg(),
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
    ap.add_argument("--encoder", default="auto")
    ap.add_argument("--articles", type=int, help="Only the first N articles of the corpus.")
    ap.add_argument("--no-first-answer", dest="first_answer", action="store_false")
    ap.add_argument("--encoder-process", dest="background", action="store_true",
                    help="Ingest with background_encoder: the int8 encoder in a child process past the first batch.")
    args = ap.parse_args()
    result = {"date": time.strftime("%Y-%m-%d"), "corpus": args.corpus.name, "load_avg": os.getloadavg(),
              "ingest": encoder_vs_ingest(args.corpus, args.encoder, args.articles, args.background)}
    result["first_answer"] = first_answer() if args.first_answer else {}
    result["ingest_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    i, f = result["ingest"], result["first_answer"]
    print("| figure | value |\n|---|---|")
    print(f"| ingest throughput ({i['articles']} articles, {i['chunks_added']} chunks) | {i['ingest_chunks_per_s']} chunks/s |")
    print(f"| bare encoder ({i['encoder']}), same chunk texts, same run | {i['encoder_chunks_per_s']} chunks/s |")
    print(f"| ingest / encoder | {i['ratio']} (CPU time: {i['cpu_ratio']}) |")
    print(f"| CPU seconds, ingest (with its encoder process) / bare encoder | {i['ingest_cpu_s']} / {i['encoder_cpu_s']} |")
    print(f"| load average before / after | {', '.join(f'{x:.1f}' for x in result['load_avg'])} / "
          f"{', '.join(f'{x:.1f}' for x in i['load_avg_after'])} |")
    for mode, v in f.items():
        print(f"| first answer, {mode}, cold process (imports + models + answer) | {v['cold_s']} s |")
        print(f"| next answer, {mode}, warm | {v['warm_s']} s |")
        print(f"| peak memory, {mode} ask process | {v['peak_rss_mb']} MB |")
    print(f"| peak memory, ingest process | {result['ingest_peak_rss_mb']} MB |")


if __name__ == "__main__":
    main()

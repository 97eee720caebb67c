"""Retrieval figures for BENCHMARKS.md: newsqa next to its peers, by the same harness, in one run.

    python bench/run_retrieval.py [--sets realtimeqa_news,...] [--cache /tmp/newsqa-bench] [--limit N]
    python bench/run_retrieval.py --systems newsqa --encoders int8,fp32   # the encoders side by side

For each set of ../shared/eval (dev questions only) it ingests the corpus into a cached newsqa
index, builds the peers (bench/peers.py), runs `app.evaluation.evaluate` retrieval-only over the
same questions for each system, writes bench/out/retrieval_<set>.json and prints a Markdown table.
Indexes are cached under --cache, so a rerun only searches (embedding beir_scifact's 5,183
abstracts takes several minutes on 2 cores). Needs `pip install -e ".[bench]"`.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"
SETS = ["beir_scifact", "multihop_rag_evidence", "realtimeqa_news", "squad2_dev_sample"]
SYSTEMS = ["newsqa", "langchain-tutorial", "bm25"]


def run_set(name: str, cache: Path, systems: list[str], limit: int | None, embedder, label: str = "newsqa") -> dict:
    from app import NewsQA
    from app.evaluation import evaluate, load_questions
    from bench.peers import BM25Alone, LangChainTutorial

    corpus, questions = EVAL / name / "corpus.jsonl", EVAL / name / "questions_dev.jsonl"
    qs = load_questions(questions, limit)
    out: dict = {}
    for system in systems:
        if system == "newsqa":
            # fp32 keeps the folder it always had; another encoder gets an index of its own.
            folder = "newsqa" if embedder.encoder == "fp32" else f"newsqa-{embedder.encoder}"
            qa = NewsQA(cache / name / folder, embedder=embedder)
            qa.ingest(corpus, progress=True)
            searcher = qa.retriever
        elif system == "langchain-tutorial":
            searcher = LangChainTutorial(corpus, cache / name / "langchain")
        elif system == "bm25":
            searcher = BM25Alone(corpus)
        else:
            raise SystemExit(f"unknown system {system!r}: pick from {', '.join(SYSTEMS)}")
        searcher.retrieve("warm up", 10)  # first-call costs (index build, caches) are not query latency
        report = evaluate(qs, searcher, k=10, progress=True, label=f"{name}/{system}")
        out[label if system == "newsqa" else system] = {"retrieval": report["retrieval"], "speed": report["speed"], "questions": report["questions"]}
        if system == "newsqa":
            qa.store.close()
    return out


def table(results: dict[str, dict]) -> str:
    rows = ["| set | system | hit@1 | hit@5 | hit@10 | recall@10 | MRR@10 | nDCG@10 | n | query ms p50 / p95 |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, by_system in results.items():
        for system, r in by_system.items():
            m, s = r["retrieval"], r["speed"]
            rows.append(f"| {name} | {system} | {m['hit@1']:.3f} | {m['hit@5']:.3f} | {m['hit@10']:.3f} | {m['recall@10']:.3f} | "
                        f"**{m['mrr@10']:.3f}** | {m['ndcg@10']:.3f} | {m['n']} | {s['query_ms_p50']:.0f} / {s['query_ms_p95']:.0f} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--cache", default="/tmp/newsqa-bench", help="Where the indexes are kept between runs.")
    ap.add_argument("--limit", type=int, help="Only the first N questions of each set.")
    ap.add_argument("--encoders", default="auto", help="Encoders of newsqa to run, e.g. int8,fp32 (NEWSQA_ENCODER values).")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = ap.parse_args()
    from app.core import build_embedder

    embedders = [build_embedder(encoder=e) for e in args.encoders.split(",")]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in args.sets.split(","):
        results[name] = {}
        systems = args.systems.split(",")
        for i, embedder in enumerate(embedders):
            label = "newsqa" if len(embedders) == 1 else f"newsqa {embedder.encoder}"
            # The peers run once per set, with the first encoder's pass.
            mine = [s for s in systems if s == "newsqa" or i == 0]
            results[name].update(run_set(name, Path(args.cache), mine, args.limit, embedder, label))
        meta = {"set": name, "questions": "questions_dev.jsonl", "limit": args.limit, "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
                "run_at": datetime.now(UTC).isoformat(timespec="seconds"), "command": " ".join(["python", *sys.argv])}
        (out_dir / f"retrieval_{name}{'' if len(embedders) == 1 else '_encoders'}.json").write_text(json.dumps({"meta": meta, **results[name]}, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()

"""A sentence-level second stage for retrieval, measured on the dev sets (issue 4 asks for one
"kept only if it helps").

    python bench/second_stage.py [--sets beir_scifact,...] [--cache /tmp/newsqa-bench] [--depth 20] [--weights 0,1,2]

No cross-encoder is available as a wheel, so the stage is built from the bundled MiniLM: each of
the `depth` best fused candidates gets the similarity of its best sentence to the question, the
candidates are ranked by it, and that ranking joins the fusion as one more list with `weight`
(0 is the current ranking). Sentence vectors are computed at query time (there are none in the
index), through the same cache the answer step uses; the first pass over a set is cold, so its
per-question time is the stage's real cost. Indexes are those of bench/run_retrieval.py (same
--cache). Prints a Markdown table and writes bench/out/second_stage.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"
SETS = ["beir_scifact", "multihop_rag_evidence", "realtimeqa_news", "squad2_dev_sample"]


class SentenceStage:
    """`Retriever(reranker=...)`: fuse the ranking by best-sentence similarity into the candidates."""

    def __init__(self, scorer, depth: int, weight: float, rrf_k: int) -> None:
        self.scorer, self.depth, self.weight, self.rrf_k = scorer, depth, weight, rrf_k
        self.seconds: list[float] = []

    def __call__(self, query: str, ranked: list) -> list:
        t0 = time.perf_counter()
        top = ranked[: self.depth]
        q = self.scorer.embed_sentences([query])[0]
        best = []
        for p in top:
            sentences = [e.text for e in self.scorer.sentences([p])] or [p.text]
            best.append(float((self.scorer.embed_sentences(sentences) @ q).max()))
        for rank, i in enumerate(sorted(range(len(top)), key=lambda i: -best[i])):
            top[i].score += self.weight / (self.rrf_k + rank + 1)
        self.seconds.append(time.perf_counter() - t0)
        return sorted(top, key=lambda p: -p.score) + ranked[self.depth :]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--cache", type=Path, default=Path("/tmp/newsqa-bench"))
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--weights", default="0,1,2")
    args = ap.parse_args()

    from app import NewsQA
    from app.answer import EvidenceScorer
    from app.evaluation import evaluate, load_questions

    weights = [float(w) for w in args.weights.split(",")]
    rows, out = [], {}
    for name in args.sets.split(","):
        qa = NewsQA(args.cache / name / "newsqa")
        qa.ingest(EVAL / name / "corpus.jsonl", progress=True)
        scorer = EvidenceScorer(qa.store.embedder, cache_size=10**7)
        qs = load_questions(EVAL / name / "questions_dev.jsonl")
        out[name] = {}
        for n, weight in enumerate(weights):
            stage = SentenceStage(scorer, args.depth, weight, qa.retriever.rrf_k)
            qa.retriever.reranker = stage
            report = evaluate(qs, qa.retriever, k=10, progress=False)
            m = report["retrieval"]
            cold = round(1000 * float(np.median(stage.seconds)), 1) if n == 0 else None
            out[name][weight] = {"retrieval": m, "stage_ms_p50_cold": cold}
            rows.append(f"| {name} | {weight:g} | {m['hit@1']:.3f} | {m['mrr@10']:.3f} | {m['ndcg@10']:.3f} | {cold if cold is not None else ''} |")
            print(rows[-1], flush=True)
        qa.store.close()
    print("| set | weight | hit@1 | MRR@10 | nDCG@10 | stage ms p50 (cold) |\n|---|---|---|---|---|---|")
    print("\n".join(rows))
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    (ROOT / "bench" / "out" / "second_stage.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

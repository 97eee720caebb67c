"""Calibrate the answer Tuning on a dev set: every combination of the given values, one table.

    python bench/calibrate.py --set realtimeqa_news --grid max_groups=1,2,3 second_ratio=0.45,0.7
    python bench/calibrate.py --set squad2_dev_sample --grid min_score=0.3,0.35,0.4 --limit 100

Ingests the set's corpus once (kept under --cache), then runs `app.evaluation.evaluate` with
each Tuning in one process, so sentence vectors are embedded once and a grid costs little more
than one run. Tune on questions_dev.jsonl only: other questions on the same corpora check the
result.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"


def parse_grid(items: list[str]) -> list[dict[str, float]]:
    """["max_groups=1,2", "min_score=0.3"] -> every combination as a dict of Tuning overrides."""
    from app.answer import Tuning

    known = {f.name: f.type for f in fields(Tuning)}
    axes = []
    for item in items:
        name, _, values = item.partition("=")
        if name not in known:
            raise SystemExit(f"unknown Tuning field {name!r}: pick from {', '.join(known)}")
        cast = int if known[name] in (int, "int") else float
        axes.append([(name, cast(v)) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)] or [{}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", required=True, help="a folder of ../shared/eval")
    ap.add_argument("--grid", nargs="*", default=[], help="field=v1,v2 ... (Tuning fields)")
    ap.add_argument("--cache", default="/tmp/newsqa-bench")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--with-choices", action="store_true")
    ap.add_argument("--mode", default="extractive")
    args = ap.parse_args()

    from app import NewsQA
    from app.answer import Tuning
    from app.evaluation import evaluate, load_questions

    qa = NewsQA(Path(args.cache) / args.set / "newsqa")
    qa.ingest(EVAL / args.set / "corpus.jsonl", progress=True)
    questions = load_questions(EVAL / args.set / "questions_dev.jsonl", args.limit)
    base = qa.tuning
    print("| tuning | accuracy | strict | answered | abst. P / R | citation P / R |")
    print("|---|---|---|---|---|---|")
    for overrides in parse_grid(args.grid):
        tuning: Tuning = replace(base, **overrides)
        # The scorer reads its Tuning at each call; swapping it keeps the sentence-vector cache.
        qa.tuning = qa.scorer.tuning = tuning
        r = evaluate(questions, qa.retriever, qa, with_choices_text=args.with_choices, mode=args.mode, progress=False)
        a, c = r["answers"], r["citations"]

        def f(x: float | None) -> str:
            return "-" if x is None else f"{x:.3f}"

        label = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "defaults"
        print(f"| {label} | {f(a['accuracy'])} | {f(a['accuracy_strict'])} | {f(a['answered_rate'])} | "
              f"{f(a['abstention_precision'])} / {f(a['abstention_recall'])} | {f(c['precision'])} / {f(c['recall'])} |", flush=True)


if __name__ == "__main__":
    main()

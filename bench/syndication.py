"""How far apart are different articles, and how close are syndicated copies? (the 0.8 threshold)

    python bench/syndication.py [corpus.jsonl ...]   # default: the three shared eval corpora

For every pair of different texts in each corpus that shares a 5-word shingle, the Jaccard
resemblance of their shingle sets (ingest/syndication.py); then, for 200 sampled articles,
the resemblance of made-up syndicated copies: byline and footer added, a new lede sentence,
the last 10% / 20% of sentences cut. Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.syndication import THRESHOLD, resemblance, shingles  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
DEFAULT = [EVAL / n / "corpus.jsonl" for n in ("realtimeqa_news", "multihop_rag_evidence", "beir_scifact")]


def copies(text: str) -> dict[str, str]:
    sentences = text.split(". ")
    n = len(sentences)
    return {
        "byline + footer": "By Staff Writer\n" + text + "\nCopyright 2025 Other Outlet. All rights reserved.",
        "new lede sentence": "In a developing story on Tuesday, officials confirmed the report. " + text,
        "last 10% cut": ". ".join(sentences[: max(1, round(n * 0.9))]),
        "last 20% cut": ". ".join(sentences[: max(1, round(n * 0.8))]),
    }


def measure(path: Path) -> dict:
    docs = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    texts = list(dict.fromkeys(d["text"] for d in docs if len(d.get("text", "").split()) >= 40))  # exact copies: the hash's job
    sh = [shingles(t) for t in texts]
    postings = defaultdict(list)
    for i, s in enumerate(sh):
        for h in s:
            postings[h].append(i)
    pairs = set()
    for ids in postings.values():
        if len(ids) <= 50:  # a run in 50+ texts is boilerplate, not evidence of a copy
            pairs.update(itertools.combinations(ids, 2))
    scores = sorted((resemblance(sh[a], sh[b]) for a, b in pairs), reverse=True)
    rnd = random.Random(0)
    synthetic: dict[str, list[float]] = defaultdict(list)
    for t in rnd.sample(texts, min(200, len(texts))):
        for kind, copy in copies(t).items():
            synthetic[kind].append(resemblance(shingles(t), shingles(copy)))
    return {
        "corpus": path.parent.name,
        "texts": len(texts),
        "max_different": scores[0] if scores else 0.0,
        "pairs_over": {x: sum(1 for s in scores if s >= x) for x in (0.5, 0.7, THRESHOLD)},
        "synthetic": {k: (min(v), sorted(v)[len(v) // 2], sum(1 for x in v if x >= THRESHOLD) / len(v)) for k, v in synthetic.items()},
    }


def main(paths: list[Path]) -> None:
    rows = [measure(p) for p in paths]
    print(f"| corpus | texts | max between different texts | pairs >= 0.5 | >= 0.7 | >= {THRESHOLD} |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        o = r["pairs_over"]
        print(f"| {r['corpus']} | {r['texts']} | {r['max_different']:.3f} | {o[0.5]} | {o[0.7]} | {o[THRESHOLD]} |")
    print()
    print(f"| corpus | made-up copy | min | median | collapsed at {THRESHOLD} |")
    print("|---|---|---|---|---|")
    for r in rows:
        for kind, (lo, mid, share) in r["synthetic"].items():
            print(f"| {r['corpus']} | {kind} | {lo:.3f} | {mid:.3f} | {share:.0%} |")


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]] or DEFAULT)

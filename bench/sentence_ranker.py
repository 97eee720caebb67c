"""How often the answer step's best sentences hold the gold answer, and whether the bundled
SmolLM2 ranks them better (issue 16: a one- or two-sentence answer needs its first sentence right).

    NEWSQA_ENCODER=fp32 python bench/sentence_ranker.py --set realtimeqa_news --data-dir DIR [--upr] [--depth 8]

DIR is the folder `newsqa eval` indexed the set into (NEWSQA_DATA_DIR); the index must exist.
For each dev question the answer step's own stages run (retrieve, score), and the table says how
often a gold string (`app.evaluation.contains`) is in the best 1, 2, 3, `depth` and 12 scored
sentences, and in the lead-first lead group.

`--upr` also ranks the best `depth` sentences by question likelihood (UPR: Sachan et al. 2022,
"Improving Passage Retrieval with Zero-Shot Question Generation"): the mean log-probability the
bundled SmolLM2-135M GGUF gives the question after "Passage: <sentence>\\nA question about this
passage:", alone and added to the score at several weights. It costs a forward pass with every
token's logits per sentence, so its seconds per question are printed too.
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


def question_likelihood():
    """A function (sentence, question) -> mean log P(question tokens | the sentence), by the bundled GGUF."""
    from llama_cpp import Llama

    from app.backends import bundled_gguf

    llm = Llama(model_path=bundled_gguf(), logits_all=True, n_ctx=512, verbose=False)

    def score(sentence: str, question: str) -> float:
        prefix = llm.tokenize(f"Passage: {sentence}\nA question about this passage:".encode(), add_bos=False)
        asked = llm.tokenize(f" {question.strip()}".encode(), add_bos=False)
        llm.reset()
        llm.eval(prefix + asked)
        logits = np.asarray(llm.scores[len(prefix) - 1 : len(prefix) + len(asked) - 1], dtype=np.float64)
        logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        return float(np.mean(logp[np.arange(len(asked)), asked]))

    return score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="realtimeqa_news")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--upr", action="store_true")
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()

    from app import NewsQA
    from app.answer.extractive import choose_lead
    from app.evaluation import contains, corpus_data_dir, load_questions
    from app.retrieval import Filters

    corpus = EVAL / args.set / "corpus.jsonl"
    qa = NewsQA(corpus_data_dir(args.data_dir, corpus))
    if not qa.stats()["articles"]:
        raise SystemExit(f"No index for {args.set} under {args.data_dir}: run `newsqa eval --corpus {corpus} ...` with NEWSQA_DATA_DIR={args.data_dir} first.")
    likelihood = question_likelihood() if args.upr else None
    p = qa.pipeline
    hits: dict[str, int] = {}
    seconds: list[float] = []
    questions = [q for q in load_questions(EVAL / args.set / "questions_dev.jsonl", args.limit) if q.answerable]
    weights = (0.1, 0.2, 0.5, 1.0)
    for q in questions:
        passages = p.retriever.retrieve(q.question, qa.settings.top_k, Filters(), today=q.question_date)
        ranked = p.evidence(q.question, passages)

        def gold(texts: list[str], q=q) -> bool:
            return any(contains(t, a) for t in texts for a in q.answers)

        row = {f"best {k}": gold([e.text for e in ranked[:k]]) for k in sorted({1, 2, 3, args.depth, 12})}
        lead = choose_lead(ranked, q.question, qa.tuning, q.question_date) if ranked else None
        row["lead-first lead group"] = bool(lead and lead.group) and gold([e.text for e in lead.group])
        if likelihood is not None and ranked:
            top = ranked[: args.depth]
            t0 = time.perf_counter()
            upr = [likelihood(e.text, q.question) for e in top]
            seconds.append(time.perf_counter() - t0)
            row["question likelihood alone"] = gold([top[int(np.argmax(upr))].text])
            for w in weights:
                row[f"score + {w} x likelihood"] = gold([top[int(np.argmax([e.score + w * u for e, u in zip(top, upr)]))].text])
        for k, v in row.items():
            hits[k] = hits.get(k, 0) + int(v)
    n = len(questions)
    print(f"{args.set}: {n} answerable dev questions")
    print("| the sentence(s) | gold among them |\n|---|---|")
    for k, v in hits.items():
        print(f"| {k} | {v / n:.3f} |")
    if seconds:
        print(f"question likelihood: {np.mean(seconds):.2f} s per question ({args.depth} sentences)")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / f"sentence_ranker_{args.set}.json").write_text(json.dumps({"n": n, "rates": {k: v / n for k, v in hits.items()},
                                                                        "upr_seconds": float(np.mean(seconds)) if seconds else None}, indent=1))


if __name__ == "__main__":
    main()

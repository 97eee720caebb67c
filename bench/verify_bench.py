"""The citation check measured without a live model: a capable model's real answer sentences,
and deterministic corruptions of them.

    python bench/verify_bench.py [--answers ../shared/eval/capable_dev/answers.jsonl]
                                 [--grades bench/data/verify_grades.json] [--dropped OUT.jsonl]
                                 [--judge-llm openai:MODEL --judge-base-url URL] [--out OUT.json]

Each recorded answer comes with the prompt newsqa sent, so the passages the model saw are read
back from the prompt itself (no index is needed). Every answer sentence goes through the same
`SentenceVerifier` the generative loop uses, against those passages.

- kept: of the model's sentences, the share the check keeps. A dropped sentence is not always
  a loss: `--dropped` writes each one with its passages so a person (or a grader) can say
  whether the passages support it; `--grades` reads those verdicts ({key: "supported" |
  "unsupported"}, keyed by answer key and sentence number, no eval text) and the report counts
  kept / supported.
- caught: each sentence the check keeps is corrupted in up to five ways, each of which makes it
  false of its passages, and checked again alone: a number or date changed, a name swapped for
  another name from the passages, a negation added or removed, a clause no passage supports
  added, the citation moved to a passage that does not say it. A corruption that changes
  nothing (no number to change, one passage only) is not made.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.answer import EvidenceScorer, Tuning  # noqa: E402
from app.answer.verify import SentenceVerifier, check_sentence, split_model_text  # noqa: E402
from ingest.store import Passage  # noqa: E402

ANSWERS = ROOT.parent / "shared" / "eval" / "capable_dev" / "answers.jsonl"
_HEAD = re.compile(r"^\[(\d+)\] .* \(.*, [^,()]*\)$")
KINDS = ("number or date", "name swapped", "negation", "added clause", "citation moved")


def prompt_parts(messages: list[dict]) -> tuple[str, list[Passage]]:
    """(question, passages) read back from a newsqa answer prompt."""
    user = "\n".join(m["content"] for m in messages if m["role"] == "user")
    question = re.search(r"Question:\s*(.*)", user).group(1).strip()
    body = user.split("Passages:\n", 1)[1].rsplit("\n\nQuestion:", 1)[0]
    passages = []
    for block in body.split("\n\n"):
        head, _, text = block.partition("\n")
        m = _HEAD.match(head)
        if not m:
            continue
        # "[n] title (source, date)": the title may hold parentheses of its own, the date never.
        n, rest = m.group(1), head[len(m.group(1)) + 3 :]
        title, _, meta = rest[:-1].rpartition(" (")
        source, _, day = meta.rpartition(", ")
        passages.append(Passage(f"p{n}", f"a{n}-{title[:40]}", text, 0, len(text), title, source, None,
                                None if day == "date unknown" else day))
    return question, passages


# --- corruptions --------------------------------------------------------------------------------

_MONTHS = "January February March April May June July August September October November December".split()
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_AUX = re.compile(r"\b(is|was|are|were|has|have|had|will|would|can|could|did|does|do)\b")
_NEG = re.compile(r"\b(not|never)\s+|n't\b")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)\b")
# Clauses no passage states; some carry a name or number, most only common words.
_CLAUSES = [
    ", after a vote by the city council",
    ", a decision that drew protests from local residents",
    ", which officials later disputed",
    ", despite strong opposition from lawmakers",
    ", two days after a similar announcement in Canada",
    ", and the agreement was later cancelled",
    ", following a long investigation by federal prosecutors",
    ", ending a dispute that had lasted for decades",
]


def corrupt_number(s: str, rng: random.Random) -> str | None:
    for name_list in (_MONTHS, _DAYS):
        found = [w for w in name_list if re.search(rf"\b{w}\b", s)]
        if found:
            w = rng.choice(found)
            other = name_list[(name_list.index(w) + rng.randint(1, len(name_list) - 1)) % len(name_list)]
            return re.sub(rf"\b{w}\b", other, s, count=1)
    nums = list(re.finditer(r"\d[\d,]*(?:\.\d+)?", s))
    if not nums:
        return None
    m = rng.choice(nums)
    raw = m.group().replace(",", "")
    value = float(raw)
    if re.fullmatch(r"(19|20)\d\d", raw):
        new = str(int(value) + rng.choice([-2, -1, 1, 2]))
    elif "." in raw:
        new = f"{value * rng.choice([2, 3]):.{len(raw.split('.')[1])}f}"
    else:
        new = str(int(value) + max(1, int(value * 0.3)) * rng.choice([1, 2]))
    return s[: m.start()] + new + s[m.end():]


def names_in(text: str) -> list[str]:
    """Capitalised runs past a sentence's start that are names (not "The", "After", a month or a day)."""
    from ingest.terms import STOPWORDS

    out = []
    for m in _NAME.finditer(text):
        words = [w for w in m.group(1).split() if w.lower() not in STOPWORDS]
        name = " ".join(words)
        if name and name not in _MONTHS + _DAYS and m.group(1).split()[0].lower() not in STOPWORDS:
            out.append(name)
    return out


def corrupt_name(s: str, passages: list[Passage], rng: random.Random) -> str | None:
    mine = names_in(s)
    if not mine:
        return None
    others = sorted({n for p in passages for n in names_in(p.text)} - {n for n in mine}
                    - {w for n in mine for w in n.split()})
    others = [o for o in others if not any(w in s for w in o.split())]
    if not others:
        return None
    return s.replace(rng.choice(mine), rng.choice(others), 1)


def corrupt_negation(s: str, rng: random.Random) -> str | None:
    if _NEG.search(s):
        return _NEG.sub("", s, count=1)
    m = _AUX.search(s)
    if m:
        return s[: m.end()] + " not" + s[m.end():]
    return None


def corrupt_clause(s: str, rng: random.Random) -> str | None:
    body = s.rstrip()
    m = re.search(r"[.!?][\"'”’)]*$", body)
    end = m.start() if m else len(body)
    return body[:end] + rng.choice(_CLAUSES) + body[end:]


def moved_citation(cited: list[int], sentence: str, passages: list[Passage], embedder) -> list[int] | None:
    """The passage least like the sentence among those it does not cite."""
    others = [i for i in range(1, len(passages) + 1) if i not in cited]
    if not others:
        return None
    vecs = embedder.embed([sentence] + [passages[i - 1].text for i in others])
    sims = vecs[1:] @ vecs[0]
    return [others[int(sims.argmin())]]


# --- the run ------------------------------------------------------------------------------------


def run(answers: Path, grades: dict[str, str], dropped_out: Path | None, judge=None) -> dict:
    from app.core import build_embedder

    embedder = build_embedder()
    tuning = Tuning()
    scorer = EvidenceScorer(embedder, None, tuning)
    kept = dropped = refusals = kept_unsupported = 0
    graded = Counter()
    caught: dict[str, list[int]] = {k: [0, 0] for k in KINDS}
    examples: dict[str, list[dict]] = {"dropped": [], "let through": [], "kept though graded unsupported": []}
    reasons = Counter()
    dropped_rows = []
    for line in answers.open(encoding="utf-8"):
        rec = json.loads(line)
        question, passages = prompt_parts(rec["messages"])
        if "NOT IN SOURCES" in rec["answer"].upper():
            refusals += 1
            continue
        evidence = scorer.score(question, scorer.sentences(passages))
        verifier = SentenceVerifier(evidence, scorer, tuning, question, judge=judge)
        pieces = split_model_text(rec["answer"])
        list(verifier.feed(rec["answer"]))
        kept_texts = {s.text for s in verifier.sentences}
        for i, (text, cited) in enumerate(pieces):
            gid = f"{rec['key']}:{i}"
            if text in kept_texts:
                kept += 1
                if grades.get(gid) == "unsupported":
                    # graded when an earlier check dropped it: kept now, it is let through wrongly
                    kept_unsupported += 1
                    examples["kept though graded unsupported"].append({"sentence": text})
                rng = random.Random(int(hashlib.sha256(gid.encode()).hexdigest()[:8], 16))
                variants = {
                    "number or date": (corrupt_number(text, rng), cited),
                    "name swapped": (corrupt_name(text, passages, rng), cited),
                    "negation": (corrupt_negation(text, rng), cited),
                    "added clause": (corrupt_clause(text, rng), cited),
                    "citation moved": (text, moved_citation(cited, text, passages, scorer) if cited else None),
                }
                for kind, (changed, where) in variants.items():
                    if changed is None or where is None or (changed == text and where == cited):
                        continue
                    verdict = check_sentence(changed, where, evidence, scorer, tuning, question, judge=judge)
                    caught[kind][1] += 1
                    if not verdict.supported:
                        caught[kind][0] += 1
                    elif len(examples["let through"]) < 40:
                        examples["let through"].append({"kind": kind, "changed": changed, "cited": where})
            else:
                dropped += 1
                reason = next((d for d in verifier.dropped if d.startswith(text)), "")
                reasons[re.sub(r".*\((.*?)(:.*)?\)$", r"\1", reason)] += 1
                g = grades.get(gid)
                graded[g or "ungraded"] += 1
                dropped_rows.append({"gid": gid, "question": question, "sentence": text, "cited": cited, "reason": reason,
                                     "passages": [f"[{i}] {p.title} ({p.source}, {p.date})\n{p.text}" for i, p in enumerate(passages, 1)]})
                if len(examples["dropped"]) < 40:
                    examples["dropped"].append({"sentence": text, "reason": reason, "grade": g})
    if dropped_out:
        with dropped_out.open("w", encoding="utf-8") as f:
            for r in dropped_rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    total = kept + dropped
    supported_dropped = graded.get("supported", 0)
    return {
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "judge": bool(judge),
        "answers_refused_by_model": refusals,
        "sentences": total,
        "kept": kept,
        "dropped": dropped,
        "kept_rate": round(kept / total, 3) if total else None,
        "dropped_graded": dict(graded),
        # kept over the sentences the passages support: every kept one not graded "unsupported"
        # (the corruptions test what passes wrongly) plus each dropped one graded "supported".
        "kept_graded_unsupported": kept_unsupported,
        "kept_of_supported": round((kept - kept_unsupported) / (kept - kept_unsupported + supported_dropped), 3)
        if kept - kept_unsupported + supported_dropped else None,
        "drop_reasons": dict(reasons.most_common()),
        "caught": {k: {"n": v[1], "caught": v[0], "rate": round(v[0] / v[1], 3) if v[1] else None} for k, v in caught.items()},
        "caught_all": round(sum(v[0] for v in caught.values()) / max(1, sum(v[1] for v in caught.values())), 3),
        "examples": examples,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--answers", type=Path, default=ANSWERS)
    ap.add_argument("--grades", type=Path, default=ROOT / "bench" / "data" / "verify_grades.json")
    ap.add_argument("--dropped", type=Path)
    ap.add_argument("--judge-llm")
    ap.add_argument("--judge-base-url")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    grades = json.loads(a.grades.read_text()) if a.grades and a.grades.exists() else {}
    judge = None
    if a.judge_llm:
        from app.answer.judge import Judge
        from app.backends import make_chat_model

        judge = Judge(make_chat_model(a.judge_llm, base_url=a.judge_base_url))
    report = run(a.answers, grades, a.dropped, judge)
    if a.out:
        a.out.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "examples"}, indent=1))
    print("| kind | corrupted | caught | rate |\n|---|---|---|---|")
    for k, v in report["caught"].items():
        print(f"| {k} | {v['n']} | {v['caught']} | {v['rate']} |")


if __name__ == "__main__":
    main()

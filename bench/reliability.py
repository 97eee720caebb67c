"""Reliability figures for BENCHMARKS.md: bad inputs, kill-and-resume cycles, hostile articles.

    python bench/reliability.py [--cycles 8] [--articles 150] [--no-generative] [--write]

Runs, at a larger scale, the same catalogues the tests check (tests/test_reliability.py and
tests/test_injection.py):
- every bad input, ingested into an index holding the seed article: handled means skipped with a
  reason or read as an article, with the index still sound (Store.verify) and the seed answer
  unchanged;
- ingests killed with SIGKILL at random points (while reading, right after a chunk write, while
  the article records are written, a few milliseconds into a write), each followed by a check and
  then a rerun; the corpus alternates between two versions that differ in half the articles, so
  every cycle writes (adds, then updates) and every kill interrupts an ingest with work left;
- hostile articles with every question of the injection tests, extractive and generative (the
  bundled SmolLM2), counting answers that obeyed them, and in generative mode what the model
  wrote: kept, replaced by quotes, or removed by the citation check.
Prints the Markdown section; --write puts it into BENCHMARKS.md under "## Reliability".
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_injection import HOSTILE, ON_TOPIC, PAYLOAD, UNRELATED, obeyed, record_retrievals, write_hostile  # noqa: E402
from tests.test_reliability import (  # noqa: E402
    INGEST_CHILD,
    SEED_QUESTION,
    audit,
    corpus_articles,
    make_bad_inputs,
    write_jsonl,
)

SEEDS = ROOT / "seeds"


def bad_inputs(embedder) -> dict:
    from app import NewsQA

    with tempfile.TemporaryDirectory() as d:
        qa = NewsQA(Path(d) / "data", embedder=embedder)
        qa.ingest(SEEDS)
        before = qa.ask(SEED_QUESTION).text
        expected = make_bad_inputs(Path(d) / "bad")
        report = qa.ingest(Path(d) / "bad")
        skipped = {Path(s.path.split(":")[0]).name for s in report.skipped}
        handled = sum(1 for name, outcome in expected.items() if (outcome is None) != (name in skipped) or name.endswith('.jsonl'))
        sound = qa.store.verify() == [] and qa.ask(SEED_QUESTION).text == before
        qa.store.close()
        # Peak memory in a child process, measured before and after the bad inputs.
        rss = _peak_rss_of_ingest(Path(d) / "bad")
    return {"tried": len(expected), "handled": handled, "index_sound": sound, "peak_rss_mb": rss}


def _peak_rss_of_ingest(folder: Path) -> dict:
    code = (
        "import resource, sys, tempfile\n"
        "from app import NewsQA\n"
        "qa = NewsQA(tempfile.mkdtemp())\n"
        "qa.ingest(sys.argv[1] + '/good.txt')\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "qa.ingest(sys.argv[1])\n"
        "print(base // 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, cwd=ROOT, timeout=3600)
    base, peak = (int(x) for x in out.stdout.split()[-2:])
    return {"before": base, "after": peak}


MARKERS = ["progress", "chunks-start", "chunks-done", "articles-start"]


def kill_cycles(cycles: int, articles: int, seed: int = 1) -> dict:
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "data"
        versions = {v: corpus_articles(articles, seed=seed, version=v) for v in (1, 2)}
        files = {v: write_jsonl(Path(d) / f"v{v}.jsonl", recs) for v, recs in versions.items()}
        texts = {v: {r["id"]: r["text"] for r in recs} for v, recs in versions.items()}
        lines = _lines_per_ingest(Path(d) / "dry-run", files)
        kills = lost = duplicated = broken = 0
        points: dict[str, int] = {}
        for cycle in range(cycles):
            # The version alternates, so every cycle after the first rewrites half the articles
            # (version 2 changes every other one): each ingest has writes left to interrupt.
            version = 1 + cycle % 2
            expected_now = texts[version]
            marker = rnd.choice(MARKERS)
            # Never the ingest's last such line: after it the child may be done, and a kill would miss.
            nth = rnd.randint(1, max(1, lines[0 if cycle == 0 else version][marker] - 1))
            delay = rnd.choice([0.0, 0.0, 0.002, 0.02])
            killed, _ = _run_and_kill(data, files[version], marker, nth, delay)
            kills += killed
            points[f"{marker}+{delay * 1000:.0f}ms"] = points.get(f"{marker}+{delay * 1000:.0f}ms", 0) + killed
            state = audit(data)
            # Whole or absent: an article's text is one of its versions, never a mix; nothing else wrong.
            broken += sum(1 for p in state["problems"] if "unfinished articles" not in p)
            broken += sum(1 for aid, text in state["articles"].items() if text not in (texts[1].get(aid), texts[2].get(aid)))
            broken += state["keyword_chunks"] != state["chunks_of_live_articles"]
            # Resume: the rerun must finish everything.
            _run_and_kill(data, files[version], None, 0, 0.0)
            state = audit(data)
            lost += sum(1 for aid in expected_now if state["articles"].get(aid) != expected_now[aid])
            duplicated += sum(1 for p in state["problems"] if "same text" in p)
            broken += sum(1 for p in state["problems"] if "same text" not in p)
    return {"cycles": cycles, "killed": kills, "points": points, "lost": lost, "duplicated": duplicated, "inconsistent": broken,
            "articles": articles}


def _lines_per_ingest(data: Path, files: dict[int, Path]) -> dict[int, Counter]:
    """How many of each marker line an uninterrupted ingest prints: 0 for version 1 into an empty
    index (the first cycle), 2 and 1 for a switch to that version (every later cycle)."""
    return {key: _run_and_kill(data, files[version], None, 0, 0.0)[1] for key, version in ((0, 1), (2, 2), (1, 1))}


def _run_and_kill(data: Path, corpus: Path, marker: str | None, nth: int, delay: float) -> tuple[int, Counter]:
    """Ingest `corpus` into `data` in a child; SIGKILL it `delay` s after its `nth` `marker` line.

    Returns 1 if the kill landed (0 if the child was done first) and the marker lines seen.
    """
    proc = subprocess.Popen([sys.executable, "-c", INGEST_CHILD, str(data), str(corpus), "8"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    watchdog = threading.Timer(3600, proc.kill)
    watchdog.start()
    seen: Counter = Counter()
    try:
        for line in proc.stdout:
            seen[line.split(" ", 1)[0].strip()] += 1
            if marker and seen[marker] == nth and line.startswith(marker):
                time.sleep(delay)
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait()
    finally:
        watchdog.cancel()
    return int(marker is not None and proc.returncode == -signal.SIGKILL), seen


def injections(embedder, generative: bool) -> dict:
    from app import NewsQA

    modes = ["extractive"] + (["generative"] if generative else [])
    out = {}
    with tempfile.TemporaryDirectory() as d:
        clean = NewsQA(Path(d) / "clean", embedder=embedder)
        clean.ingest(SEEDS)
        qa = NewsQA(Path(d) / "data", embedder=embedder)
        qa.ingest(SEEDS, write_hostile(Path(d)))
        retrieved = record_retrievals(qa)
        hostile_ids = {r["id"] for r in HOSTILE}
        for mode in modes:
            tally: dict = {"asked": 0, "followed": 0, "missed_fact": [], "model_worded": 0, "quoted_instead": 0,
                           "model_failed": 0, "payload_removed": 0}
            for question, fact, on_topic in [(q, f, False) for q, f in UNRELATED] + [(q, f, True) for q, f, _ in ON_TOPIC]:
                a = qa.ask(question, mode=mode)
                tally["asked"] += 1
                why = obeyed(qa, a, retrieved)
                if not on_topic:
                    # An unrelated answer must not move: same fact, no hostile source, no payload,
                    # and in extractive mode word for word the answer of an index without them.
                    if fact not in a.text or {c.article_id for c in a.citations} & hostile_ids or PAYLOAD in a.text.upper():
                        why.append("the unrelated answer changed")
                    elif mode == "extractive" and a.text != clean.ask(question).text:
                        why.append("the unrelated answer differs from the clean index's")
                elif fact not in a.text:
                    # A wrong answer to the article's own question, with no sign of obeying it (that
                    # is what `obeyed` looks for): counted and shown apart, not as followed.
                    tally["missed_fact"].append((question, a.text))
                if why:
                    tally["followed"] += 1
                    print(f"followed ({mode}): {question!r} -> {a.text!r}: {why}", flush=True)
                elif on_topic and fact not in a.text:
                    print(f"missed the fact ({mode}): {question!r} -> {a.text!r}", flush=True)
                if mode == "generative":
                    # Say what the model did, not only what was shown: a "0 followed" from answers
                    # that all fell back to quoting would measure the citation check, not the model.
                    tally["model_worded"] += any(s.support == "supported" for s in a.sentences)
                    tally["model_failed"] += bool(a.warnings)
                    tally["quoted_instead"] += not a.warnings and not any(s.support == "supported" for s in a.sentences)
                    tally["payload_removed"] += any(n.startswith("removed by the citation check") and PAYLOAD in n.upper() for n in a.notes)
            out[mode] = tally
        qa.store.close()
        clean.store.close()
    return {"articles": len(HOSTILE), "modes": out}


def code_version() -> str:
    """The commit measured, and whether the code under test had uncommitted changes (others edit
    the same checkout while a long bench runs, so the figures must say what they are of)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "app", "ingest", "prompts"],
                           capture_output=True, text=True, cwd=ROOT).stdout.split()
    return f"{head or 'unknown'}{' with uncommitted changes to app/, ingest/ or prompts/' if dirty else ''}"


def markdown(bad: dict, kills: dict, inj: dict, seconds: float, version: str) -> str:
    today = dt.date.today().isoformat()
    modes = "; ".join(f"{m}: {v['asked']} answers, {v['followed']} followed (0), {len(v['missed_fact'])} without the reported fact"
                      for m, v in inj["modes"].items())
    missed = " ".join(f"In {m} mode {q!r} was answered: {t!r}." for m, v in inj["modes"].items() for q, t in v["missed_fact"])
    gen = inj["modes"].get("generative")
    model_note = (
        f" In generative mode SmolLM2's own checked wording was kept in {gen['model_worded']} of {gen['asked']} answers; "
        f"{gen['quoted_instead']} fell back to quoting because none of its sentences passed the citation check, "
        f"{gen['model_failed']} because the model could not answer; the citation check removed a model sentence stating "
        f"the payload from {gen['payload_removed']} answers."
        if gen else " Generative mode was not run (--no-generative)."
    )
    points = ", ".join(f"{k} x{v}" for k, v in sorted(kills["points"].items()))
    return "\n".join([
        "## Reliability",
        "",
        f"Measured {today} at commit {version} with `python bench/reliability.py --cycles {kills['cycles']} --articles {kills['articles']}"
        f"{'' if 'generative' in inj['modes'] else ' --no-generative'}` ({seconds / 60:.0f} min on a 2-core machine).",
        "",
        "| what | tried | outcome (goal) |",
        "|---|---|---|",
        f"| bad inputs (binary, empty, 50 MB, bad encodings, truncated JSON, nested/bodiless HTML, long runs, control characters, duplicate ids) "
        f"| {bad['tried']} | {bad['handled']} handled with a reason or read; index sound and seed answer unchanged: "
        f"{'yes' if bad['index_sound'] else 'NO'}; peak RSS {bad['peak_rss_mb']['before']} MB before, "
        f"{bad['peak_rss_mb']['after']} MB after (all handled) |",
        f"| ingests killed with SIGKILL, then resumed ({kills['articles']} articles; the corpus alternates every cycle between "
        "two versions that differ in half the articles) "
        f"| {kills['cycles']} cycles, {kills['killed']} kills landed | lost {kills['lost']} (0), duplicated {kills['duplicated']} (0), "
        f"inconsistent {kills['inconsistent']} (0) |",
        f"| hostile articles (payload instructions, fake ChatML/role turns, fake [n] marks) | {inj['articles']} articles | {modes} |",
        "",
        f"Kill points: {points}. A cycle checks, after the kill, that every indexed article is whole "
        "(its chunk count, chunks, vectors and keyword entries agree) and then that the rerun finished the rest.",
        "",
        "Hostile articles: every question of tests/test_injection.py, the unrelated ones (the answer keeps its fact, cites "
        "no hostile article and, extractive, is word for word the clean index's) and the ones a hostile article is the "
        "source for (quoted, not obeyed). Followed means an unrelated answer that changed, an inexact or unretrieved "
        "quote, a sentence citing a number no source has, or the payload asserted; an on-topic answer without the fact its "
        f"article reports is a wrong answer, counted apart.{model_note}" + (f" {missed}" if missed else ""),
        "",
    ])


def write_section(text: str, path: Path = ROOT / "BENCHMARKS.md") -> None:
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\nFigures measured by the scripts in bench/.\n"
    pattern = re.compile(r"^## Reliability\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(current):
        current = pattern.sub(lambda _: text + "\n", current)
    else:
        current = current.rstrip("\n") + "\n\n" + text
    path.write_text(current, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=8)
    ap.add_argument("--articles", type=int, default=150)
    ap.add_argument("--no-generative", action="store_true", help="skip the SmolLM2 answers (slow on a busy machine)")
    ap.add_argument("--write", action="store_true", help="update the Reliability section of BENCHMARKS.md")
    args = ap.parse_args()
    from app.core import build_embedder

    start = time.perf_counter()
    version = code_version()  # the code this process imports now, before anyone else's next commit
    embedder = build_embedder()
    bad = bad_inputs(embedder)
    print("bad inputs:", bad, flush=True)
    inj = injections(embedder, generative=not args.no_generative)
    print("injections:", inj, flush=True)
    kills = kill_cycles(args.cycles, args.articles)
    print("kill cycles:", kills, flush=True)
    text = markdown(bad, kills, inj, time.perf_counter() - start, version)
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()

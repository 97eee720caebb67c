"""Reliability figures for BENCHMARKS.md: bad inputs, kill-and-resume cycles, hostile articles.

    python bench/reliability.py [--cycles 8] [--articles 150] [--no-generative] [--write]

Runs, at a larger scale, the same catalogues the tests check (tests/test_reliability.py and
tests/test_injection.py):
- every bad input, ingested into an index holding the seed article: handled means skipped with a
  reason or read as an article, with the index still sound (Store.verify) and the seed answer
  unchanged;
- ingests killed with SIGKILL at random points (while reading, right after a chunk write, while
  the article records are written, a few milliseconds into a write), each followed by a check and
  then a rerun; half the cycles re-ingest a changed version of the corpus (the update path);
- hostile articles with every question of the injection tests, extractive and generative (the
  bundled SmolLM2), counting answers that obeyed them.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_injection import HOSTILE, ON_TOPIC, UNRELATED, obeyed, record_retrievals, write_hostile  # noqa: E402
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


def kill_cycles(cycles: int, articles: int, seed: int = 1) -> dict:
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "data"
        versions = {v: corpus_articles(articles, seed=seed, version=v) for v in (1, 2)}
        files = {v: write_jsonl(Path(d) / f"v{v}.jsonl", recs) for v, recs in versions.items()}
        kills = lost = duplicated = broken = 0
        points: dict[str, int] = {}
        for cycle in range(cycles):
            version = 1 if cycle < cycles // 2 else 2
            expected_now = {r["id"]: r["text"] for r in versions[version]}
            older = {r["id"]: r["text"] for r in versions[1]}
            marker = rnd.choice(["progress", "chunks-start", "chunks-done", "articles-start"])
            nth = rnd.randint(4, 30) if marker == "progress" else rnd.randint(1, 4)
            delay = rnd.choice([0.0, 0.0, 0.002, 0.02])
            killed = _run_and_kill(data, files[version], marker, nth, delay)
            kills += killed
            points[f"{marker}+{delay * 1000:.0f}ms"] = points.get(f"{marker}+{delay * 1000:.0f}ms", 0) + killed
            state = audit(data)
            # Whole or absent: an article's text is one of its versions, never a mix; nothing else wrong.
            broken += sum(1 for p in state["problems"] if "unfinished articles" not in p)
            broken += sum(1 for aid, text in state["articles"].items() if text not in (older.get(aid), expected_now.get(aid)))
            broken += state["keyword_chunks"] != state["chunks_of_live_articles"]
            # Resume: the rerun must finish everything.
            _run_and_kill(data, files[version], None, 0, 0.0)
            state = audit(data)
            lost += sum(1 for aid in expected_now if state["articles"].get(aid) != expected_now[aid])
            duplicated += sum(1 for p in state["problems"] if "same text" in p)
            broken += sum(1 for p in state["problems"] if "same text" not in p)
    return {"cycles": cycles, "killed": kills, "points": points, "lost": lost, "duplicated": duplicated, "inconsistent": broken,
            "articles": articles}


def _run_and_kill(data: Path, corpus: Path, marker: str | None, nth: int, delay: float) -> int:
    proc = subprocess.Popen([sys.executable, "-c", INGEST_CHILD, str(data), str(corpus), "8"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    watchdog = threading.Timer(3600, proc.kill)
    watchdog.start()
    seen, killed = 0, 0
    try:
        for line in proc.stdout:
            if marker and line.startswith(marker):
                seen += 1
                if seen == nth:
                    time.sleep(delay)
                    os.kill(proc.pid, signal.SIGKILL)
                    killed = 1
                    break
        proc.wait()
    finally:
        watchdog.cancel()
    return killed if proc.returncode == -signal.SIGKILL else 0


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
        for mode in modes:
            asked = followed = 0
            for question, fact in UNRELATED:
                a = qa.ask(question, mode=mode)
                asked += 1
                changed = fact not in a.text or bool({c.article_id for c in a.citations} & {r["id"] for r in HOSTILE})
                followed += bool(obeyed(qa, a, retrieved)) or changed or "PINEAPPLE" in a.text.upper()
            for question, fact, _ in ON_TOPIC:
                a = qa.ask(question, mode=mode)
                asked += 1
                followed += bool(obeyed(qa, a, retrieved)) or fact not in a.text
            out[mode] = {"asked": asked, "followed": followed}
        qa.store.close()
        clean.store.close()
    return {"articles": len(HOSTILE), "modes": out}


def markdown(bad: dict, kills: dict, inj: dict, seconds: float) -> str:
    today = dt.date.today().isoformat()
    modes = "; ".join(f"{m}: {v['asked']} answers, {v['followed']} followed" for m, v in inj["modes"].items())
    points = ", ".join(f"{k} x{v}" for k, v in sorted(kills["points"].items()))
    return "\n".join([
        "## Reliability",
        "",
        f"Measured {today} with `python bench/reliability.py --cycles {kills['cycles']} --articles {kills['articles']}"
        f"{'' if 'generative' in inj['modes'] else ' --no-generative'}` ({seconds / 60:.0f} min on a 2-core machine).",
        "",
        "| what | tried | outcome (goal) |",
        "|---|---|---|",
        f"| bad inputs (binary, empty, 50 MB, bad encodings, truncated JSON, nested/bodiless HTML, long runs, control characters, duplicate ids) "
        f"| {bad['tried']} | {bad['handled']} handled with a reason or read; index sound and seed answer unchanged: "
        f"{'yes' if bad['index_sound'] else 'NO'}; peak RSS {bad['peak_rss_mb']['before']} MB before, "
        f"{bad['peak_rss_mb']['after']} MB after (all handled) |",
        f"| ingests killed with SIGKILL, then resumed ({kills['articles']} articles; half the cycles re-ingest a changed version) "
        f"| {kills['cycles']} cycles, {kills['killed']} kills landed | lost {kills['lost']} (0), duplicated {kills['duplicated']} (0), "
        f"inconsistent {kills['inconsistent']} (0) |",
        f"| hostile articles (payload instructions, fake ChatML/role turns, fake [n] marks) | {inj['articles']} articles | {modes} (0 followed) |",
        "",
        f"Kill points: {points}. A cycle checks, after the kill, that every indexed article is whole "
        "(its chunk count, chunks, vectors and keyword entries agree) and then that the rerun finished the rest.",
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
    from ingest.embedder import Embedder

    start = time.perf_counter()
    embedder = Embedder()
    bad = bad_inputs(embedder)
    print("bad inputs:", bad, flush=True)
    inj = injections(embedder, generative=not args.no_generative)
    print("injections:", inj, flush=True)
    kills = kill_cycles(args.cycles, args.articles)
    print("kill cycles:", kills, flush=True)
    text = markdown(bad, kills, inj, time.perf_counter() - start)
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()

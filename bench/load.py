"""A bounded load run: N questions at once against one newsqa worker, through its HTTP API.

    python bench/load.py [--concurrency 20] [--corpus PATH --questions PATH] [--url URL]
                         [--api gradio|openai] [--mode extractive|generative]
                         [--llm SPEC --llm-base-url URL] [--chroma-url URL] [--out bench/out/load.json]

Without --url it builds a temporary embedded index of --corpus with `newsqa ingest` (default:
the realtimeqa news corpus in ../shared/eval, read in place; seeds/ when that is absent), starts
one worker with `newsqa serve` on a free port, and stops it afterwards. With --chroma-url the
worker (and the ingest) use that Chroma server instead.

Each of the N threads opens its own gradio_client and, once all are connected, asks one question
through the worker's `/ask` endpoint (the Answer as JSON) at the same moment. With `--api openai`
each thread uses the official openai client instead, through `POST /v1/chat/completions` (the
worker's OpenAI-compatible API, which works on at most 4 questions at a time; NEWSQA_API_KEY, when
set, is the key). Latency is measured
in the client, from the request to the full answer, so it includes the worker's queue (Gradio
runs 4 events at a time by default). One warm-up question goes first, so the model load is not
counted. Errors (goal: 0) are exceptions or answers that carry a backend warning.
Prints one JSON object and a Markdown row for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval" / "realtimeqa_news"
SEED_QUESTIONS = [
    "Who controls Deir Ezzor?",
    "How long was the siege of Deir Ezzor?",
    "What did Turkey say about the strikes?",
    "Who is advancing from the east?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def newsqa_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("newsqa")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "app.cli"]


def load_questions(path: Path | None, n: int) -> list[str]:
    """The first n questions of a questions file (shared eval schema), else the seed questions, cycled."""
    if path and path.exists():
        qs = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    qs.append(json.loads(line)["question"])
                if len(qs) >= n:
                    break
    else:
        qs = list(SEED_QUESTIONS)
    return [qs[i % len(qs)] for i in range(n)]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


def start_worker(args: argparse.Namespace, data_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    log = data_dir.parent / "worker.log"
    cmd = [*newsqa_cmd(), "serve", "--port", str(port), "--seeds", str(data_dir.parent / "no-seeds")]
    (data_dir.parent / "no-seeds").mkdir(exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc, url, log
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"the worker did not start within 300 s; see {log}")


class GradioAsker:
    """Questions through the worker's Gradio `/ask` endpoint; the Answer comes back as JSON."""

    def __init__(self, url: str, timeout: float) -> None:
        from gradio_client import Client

        self.client, self.timeout = Client(url, verbose=False), timeout

    def ask(self, question: str) -> dict:
        answer = self.client.submit(question, api_name="/ask").result(timeout=self.timeout)
        return {"abstained": bool(answer.get("abstained")), "warnings": answer.get("warnings") or []}


class OpenAIAsker:
    """Questions through the worker's `POST /v1/chat/completions`, with the official openai client."""

    def __init__(self, url: str, timeout: float) -> None:
        import openai

        key = os.environ.get("NEWSQA_API_KEY") or "unused"
        self.client = openai.OpenAI(base_url=url.rstrip("/") + "/v1", api_key=key, max_retries=0, timeout=timeout)

    def ask(self, question: str) -> dict:
        r = self.client.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": question}])
        facts = (r.model_extra or {}).get("newsqa") or {}
        if not r.choices or not r.choices[0].message.content:
            raise RuntimeError("an empty reply")
        return {"abstained": bool(facts.get("abstained")), "warnings": facts.get("warnings") or []}


ASKERS = {"gradio": GradioAsker, "openai": OpenAIAsker}
THROUGH = {"gradio": "HTTP: gradio_client -> /ask", "openai": "HTTP: openai client -> /v1/chat/completions"}


def ask_all(url: str, questions: list[str], timeout: float, api: str = "gradio") -> list[dict]:
    """Ask every question at once, one thread and one client each; a record per question."""
    results: list[dict] = [{} for _ in questions]
    barrier = threading.Barrier(len(questions))

    def one(i: int, q: str) -> None:
        rec = results[i]
        rec["question"] = q
        try:
            client = ASKERS[api](url, timeout)
        except Exception as e:
            rec["error"] = f"connect: {type(e).__name__}: {e}"
            barrier.abort()
            return
        try:
            barrier.wait(timeout=120)
        except threading.BrokenBarrierError:
            rec.setdefault("error", "another client could not connect")
            return
        t = rec["t0"] = time.perf_counter()
        try:
            answer = client.ask(q)
            rec["t1"] = time.perf_counter()
            rec["latency_s"] = rec["t1"] - t
            rec.update(answer)
            if rec["warnings"]:
                rec["error"] = "backend: " + "; ".join(rec["warnings"])[:300]
        except Exception as e:
            rec["t1"] = time.perf_counter()
            rec["latency_s"] = rec["t1"] - t
            rec["error"] = f"{type(e).__name__}: {str(e)[:300]}"

    threads = [threading.Thread(target=one, args=(i, q)) for i, q in enumerate(questions)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", type=int, default=20, help="questions asked at the same moment")
    ap.add_argument("--corpus", type=Path, default=EVAL / "corpus.jsonl" if EVAL.exists() else ROOT / "seeds")
    ap.add_argument("--questions", type=Path, default=EVAL / "questions_dev.jsonl")
    ap.add_argument("--url", help="an already running worker; nothing is started or ingested")
    ap.add_argument("--api", choices=sorted(ASKERS), default="gradio",
                    help="ask through the Gradio /ask endpoint or the OpenAI-compatible /v1/chat/completions")
    ap.add_argument("--chroma-url", help="run the worker (and the ingest) on this Chroma server")
    ap.add_argument("--mode", choices=["extractive", "generative"], default="extractive")
    ap.add_argument("--llm", help="NEWSQA_LLM for the worker (generative mode)")
    ap.add_argument("--llm-base-url", help="NEWSQA_LLM_BASE_URL for the worker")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds one question may take")
    ap.add_argument("--out", type=Path, help="also write the JSON report here")
    args = ap.parse_args()

    questions = load_questions(args.questions if args.corpus.suffix == ".jsonl" else None, args.concurrency)
    work = Path(tempfile.mkdtemp(prefix="newsqa-load-"))
    proc = None
    info: dict = {"concurrency": args.concurrency, "mode": args.mode, "through": THROUGH[args.api]}
    try:
        if args.url:
            url = args.url
        else:
            data_dir = work / "data"
            env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
            env.update(NEWSQA_DATA_DIR=str(data_dir), NEWSQA_MODE=args.mode)
            if os.environ.get("NEWSQA_API_KEY"):  # the worker then requires the key the openai client sends
                env["NEWSQA_API_KEY"] = os.environ["NEWSQA_API_KEY"]
            if args.chroma_url:
                env["NEWSQA_CHROMA_URL"] = args.chroma_url
            if args.llm:
                env["NEWSQA_LLM"] = args.llm
            if args.llm_base_url:
                env["NEWSQA_LLM_BASE_URL"] = args.llm_base_url
            t = time.perf_counter()
            r = subprocess.run([*newsqa_cmd(), "ingest", "--json", str(args.corpus)], env=env, capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"ingest failed:\n{r.stderr[-3000:]}")
            report = json.loads(r.stdout)
            info.update(corpus=str(args.corpus), articles=report["articles"], chunks=report["chunks"],
                        ingest_s=round(time.perf_counter() - t, 1), store="chroma server" if args.chroma_url else "embedded")
            proc, url, _ = start_worker(args, data_dir, env)
        t = time.perf_counter()
        ASKERS[args.api](url, args.timeout).ask(questions[0])
        info["warmup_s"] = round(time.perf_counter() - t, 2)

        results = ask_all(url, questions, args.timeout, args.api)
        timed = [r for r in results if "t0" in r]
        # From the moment the questions were released to the last answer (connecting is not counted).
        wall = max(r["t1"] for r in timed) - min(r["t0"] for r in timed) if timed else 0.0
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)

    latencies = [r["latency_s"] for r in results if "latency_s" in r and "error" not in r]
    errors = [r for r in results if "error" in r]
    info.update(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        questions=len(results),
        errors=len(errors),
        error_messages=sorted({r["error"] for r in errors})[:5],
        abstained=sum(1 for r in results if r.get("abstained")),
        p50_s=round(statistics.median(latencies), 2) if latencies else None,
        p95_s=round(percentile(latencies, 95), 2) if latencies else None,
        max_s=round(max(latencies), 2) if latencies else None,
        wall_s=round(wall, 2),
        questions_per_s=round(len(results) / wall, 2) if wall else None,
        load_average=[round(x, 1) for x in os.getloadavg()],
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(info, indent=1), encoding="utf-8")
    print(json.dumps(info, indent=1))
    print()
    print("| date | through | store | mode | articles | concurrent | errors | p50 s | p95 s | max s | wall s | q/s |")
    print(f"| {info['date']} | {args.api} | {info.get('store', 'given worker')} | {args.mode} | {info.get('articles', '?')} | "
          f"{info['questions']} | {info['errors']} | {info['p50_s']} | {info['p95_s']} | {info['max_s']} | "
          f"{info['wall_s']} | {info['questions_per_s']} |")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()

"""Cold first answer: `newsqa ask` in a fresh process over seeds/ (index already built), and where the time goes.

    python bench/cold_start.py [--runs 5] [--out bench/out/cold_start.json]

1. Builds a seeds/ index in a temp folder with `newsqa ingest seeds/` (the default settings:
   NEWSQA_ENCODER=auto; the int8 export is made before timing if it is not cached yet).
2. Times `python -m app.cli ask "Who controls Deir Ezzor?"` from process start to exit, `--runs`
   times; reports the median.
3. One more fresh process reports its stages (interpreter start, `import app`, opening the index,
   loading the encoder, the answer), which heavy modules it imported, and `-X importtime`'s
   largest top-level imports.
Prints a Markdown table. On a shared machine run it twice: the medians move with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
QUESTION = "Who controls Deir Ezzor?"
HEAVY = ("torch", "transformers", "sentence_transformers", "langchain_core", "langchain_openai", "gradio", "llama_cpp",
         "onnxruntime", "tokenizers", "chromadb", "scipy")

_STAGES = r"""
import json, sys, time
t0 = time.perf_counter()
import app
from app import NewsQA
t1 = time.perf_counter()
qa = NewsQA(sys.argv[1])
t2 = time.perf_counter()
qa.embedder.load()
t3 = time.perf_counter()
answer = qa.ask(sys.argv[2])
t4 = time.perf_counter()
heavy = [m for m in sys.argv[3].split(",") if m in sys.modules]
print(json.dumps({"import_app_s": t1 - t0, "open_index_s": t2 - t1, "load_encoder_s": t3 - t2, "answer_s": t4 - t3,
                  "encoder": qa.embedder.encoder, "abstained": answer.abstained, "heavy_modules_loaded": heavy}))
"""


def top_imports(stderr: str, n: int = 8) -> list[tuple[str, float]]:
    """The largest top-level imports (cumulative seconds) from `python -X importtime` output."""
    out = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if name.startswith(" ") and not name.startswith("  "):  # depth 0
            try:
                out.append((name.strip(), int(cumulative.strip()) / 1e6))
            except ValueError:
                continue
    return sorted(out, key=lambda x: -x[1])[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "cold_start.json")
    args = ap.parse_args()
    from app.core import build_embedder

    build_embedder().load()  # the one-off export, if the cache lacks it, is not a cold start
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory() as d:
        env["NEWSQA_DATA_DIR"] = d
        subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(ROOT / "seeds"), "--json"], env=env, check=True,
                       capture_output=True)
        walls, cpus = [], []
        for _ in range(args.runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "app.cli", "ask", QUESTION], env=env, capture_output=True, text=True)
            walls.append(time.perf_counter() - t)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            # CPU seconds of the process: on a shared machine the wall time also holds the waits for a core.
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            if r.returncode != 0:
                raise SystemExit(r.stderr)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        interpreter = time.perf_counter() - t
        r = subprocess.run([sys.executable, "-c", _STAGES, d, QUESTION, ",".join(HEAVY)], env=env, check=True,
                           capture_output=True, text=True)
        stages = json.loads(r.stdout.strip().splitlines()[-1])
        r = subprocess.run([sys.executable, "-X", "importtime", "-m", "app.cli", "ask", QUESTION], env=env, check=True,
                           capture_output=True, text=True)
        imports = top_imports(r.stderr)
    result = {
        "meta": {"run_at": datetime.now(UTC).isoformat(timespec="seconds"), "load_avg": os.getloadavg(),
                 "command": " ".join(["python", *sys.argv])},
        "cold_ask_s": [round(w, 2) for w in walls], "median_s": round(statistics.median(walls), 2),
        "cold_ask_cpu_s": [round(c, 2) for c in cpus], "median_cpu_s": round(statistics.median(cpus), 2),
        "interpreter_start_s": round(interpreter, 2), "stages_s": {k: round(v, 2) if isinstance(v, float) else v for k, v in stages.items()},
        "top_imports_s": [(n, round(s, 2)) for n, s in imports],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    s = result["stages_s"]
    print("| figure | value |\n|---|---|")
    print(f"| cold `newsqa ask` over seeds/, median of {args.runs} (runs) | **{result['median_s']} s** ({', '.join(map(str, result['cold_ask_s']))}) |")
    print(f"| CPU time of those processes (user + system), median | {result['median_cpu_s']} s ({', '.join(map(str, result['cold_ask_cpu_s']))}) |")
    print(f"| interpreter start (`python -c pass`) | {result['interpreter_start_s']} s |")
    print(f"| `import app` | {s['import_app_s']} s |")
    print(f"| open the index (Chroma, checks) | {s['open_index_s']} s |")
    print(f"| load the encoder ({s['encoder']}) | {s['load_encoder_s']} s |")
    print(f"| the answer (keyword index, retrieval, sentence scoring) | {s['answer_s']} s |")
    print(f"| heavy modules imported | {', '.join(s['heavy_modules_loaded'])} |")
    print(f"| largest imports (-X importtime, cumulative) | {', '.join(f'{n} {t}' for n, t in imports)} |")
    print(f"\nload average: {result['meta']['load_avg']}")


if __name__ == "__main__":
    main()

"""Ingest wall time: `newsqa ingest` against the LangChain tutorial's ingest, whole processes, same articles.

    python bench/ingest_vs_peer.py [--articles 300] [--rounds 2] [--out bench/out/ingest_vs_peer.json]

The first `--articles` records of ../shared/eval/realtimeqa_news/corpus.jsonl are written to one
JSON Lines file. Each round runs, as fresh processes into fresh folders, one after the other:
- newsqa: `python -m app.cli ingest FILE --json` with the default settings (NEWSQA_ENCODER=auto:
  int8 on this CPU; the int8 export is made once before timing, as it is cached for every later run);
- the peer (bench/peers.py's LangChain tutorial): each article as a Document "title\\n\\ntext",
  RecursiveCharacterTextSplitter(1000, 200), HuggingFaceEmbeddings on the bundled MiniLM,
  `Chroma.from_documents` into a persist directory.
Rounds alternate which goes first. Wall time is from the process's start to its exit (imports,
model loading, reading, chunking, embedding, writing). Prints a Markdown table with the medians.
Needs the `bench` extra: `pip install -e ".[bench]"`.
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
DEFAULT_CORPUS = ROOT.parent / "shared" / "eval" / "realtimeqa_news" / "corpus.jsonl"


def peer_ingest(corpus: str, folder: str) -> int:
    """The LangChain tutorial's ingest, in this process; returns the chunk count."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from bench.peers import _doc_text, read_corpus
    from ingest.embedder import bundled_model_path

    docs = [Document(page_content=_doc_text(r), metadata={"article_id": str(r["id"])}) for r in read_corpus(corpus) if r.get("text")]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    embeddings = HuggingFaceEmbeddings(model_name=bundled_model_path(), model_kwargs={"device": "cpu"})
    store = Chroma.from_documents(chunks, embeddings, collection_name="tutorial", persist_directory=folder)
    return store._collection.count()


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of one process; the CPU time is what the machine's load does not inflate."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--articles", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "ingest_vs_peer.json")
    ap.add_argument("--peer", nargs=2, metavar=("CORPUS", "FOLDER"), help=argparse.SUPPRESS)  # the peer's own process
    args = ap.parse_args()
    if args.peer:
        print(json.dumps({"chunks": peer_ingest(*args.peer)}))
        return

    from app.core import build_embedder

    embedder = build_embedder()
    embedder.load()  # the one-off int8 export (cached afterwards) is not part of an ingest
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    runs: dict[str, list[dict]] = {"newsqa": [], "langchain-tutorial": []}
    with tempfile.TemporaryDirectory() as tmp:
        subset = Path(tmp) / "articles.jsonl"
        with open(args.corpus, encoding="utf-8") as src, open(subset, "w", encoding="utf-8") as dst:
            n = 0
            for line in src:
                if line.strip() and n < args.articles:
                    dst.write(line)
                    n += 1
        for r in range(args.rounds):
            order = ["newsqa", "langchain-tutorial"] if r % 2 == 0 else ["langchain-tutorial", "newsqa"]
            for system in order:
                folder = Path(tmp) / f"{system}-{r}"
                if system == "newsqa":
                    wall, cpu, out = timed([sys.executable, "-m", "app.cli", "ingest", str(subset), "--json"],
                                      {**env, "NEWSQA_DATA_DIR": str(folder)})
                    chunks = json.loads(out.strip().splitlines()[-1])["chunks"]
                else:
                    wall, cpu, out = timed([sys.executable, __file__, "--peer", str(subset), str(folder)], env)
                    chunks = json.loads(out.strip().splitlines()[-1])["chunks"]
                runs[system].append({"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "chunks": chunks, "load_avg": round(os.getloadavg()[0], 1)})
                print(f"round {r + 1}: {system} {wall:.1f} s, {chunks} chunks", file=sys.stderr, flush=True)
    med = {s: statistics.median(x["wall_s"] for x in v) for s, v in runs.items()}
    cpu = {s: statistics.median(x["cpu_s"] for x in v) for s, v in runs.items()}
    ratios = [a["wall_s"] / b["wall_s"] for a, b in zip(runs["newsqa"], runs["langchain-tutorial"])]
    result = {
        "meta": {"articles": args.articles, "corpus": args.corpus.name, "rounds": args.rounds, "encoder": embedder.encoder,
                 "machine": f"{os.cpu_count()} cores", "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
                 "command": " ".join(["python", *sys.argv])},
        "runs": runs, "median_wall_s": med, "median_cpu_s": cpu, "cpu_ratio": round(cpu["newsqa"] / cpu["langchain-tutorial"], 3), "ratio_of_medians": round(med["newsqa"] / med["langchain-tutorial"], 3),
        "ratio_per_round": [round(x, 3) for x in ratios],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print("| system | wall s per round | median wall s | median CPU s | chunks |\n|---|---|---|---|---|")
    for s, v in runs.items():
        print(f"| {s} | {' / '.join(str(x['wall_s']) for x in v)} | {med[s]:.1f} | {cpu[s]:.1f} | {v[0]['chunks']} |")
    print(f"\nnewsqa / peer wall: {result['ratio_of_medians']} (per round: {result['ratio_per_round']}); "
          f"CPU: {result['cpu_ratio']}; encoder {embedder.encoder}")


if __name__ == "__main__":
    main()

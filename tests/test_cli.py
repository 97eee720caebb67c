"""The installed `newsqa` command, run as a user would, from an unrelated directory."""

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import SEEDS


def _newsqa(args, cwd, data_dir, timeout=300):
    env = {**os.environ, "NEWSQA_DATA_DIR": str(data_dir)}
    exe = Path(sys.executable).with_name("newsqa")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "app.cli"]
    return subprocess.run(cmd + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_ingest_then_ask_from_any_directory(tmp_path):
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = _newsqa(["ingest", str(SEEDS), "--json"], elsewhere, data)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report == {"added": 1, "updated": 0, "unchanged": 0, "skipped": [], "articles": 1, "chunks": report["chunks"]}
    r = _newsqa(["ask", "Who controls Deir Ezzor?"], elsewhere, data)
    assert r.returncode == 0, r.stderr
    assert "less than half the city" in r.stdout and "[1]" in r.stdout
    assert "Date of the sources unknown" in r.stdout
    r = _newsqa(["ask", "--json", "What did Turkey say about the strikes?"], elsewhere, data)
    answer = json.loads(r.stdout)
    assert answer["abstained"] is True and answer["citations"] == []


def test_errors_are_messages_not_tracebacks(tmp_path):
    r = _newsqa(["ask", "Who controls Deir Ezzor?"], tmp_path, tmp_path / "empty")
    assert r.returncode == 1
    assert "No articles are indexed yet" in r.stderr and "Traceback" not in r.stderr


def test_every_command_has_help(tmp_path):
    r = _newsqa(["--help"], tmp_path, tmp_path / "d", timeout=60)
    for command in ("ingest", "ask", "serve", "stats"):
        assert command in r.stdout
        sub = _newsqa([command, "--help"], tmp_path, tmp_path / "d", timeout=60)
        assert sub.returncode == 0 and "Usage" in sub.stdout

"""Settings come from one place, and every error a person can fix belongs to one family."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app import NewsQA, NewsQAError, Settings

from .conftest import ROOT, SEEDS


def test_variants_in_a_data_dir_given_as_an_argument_are_used(tmp_path: Path, embedder, monkeypatch) -> None:
    # NEWSQA_DATA_DIR points elsewhere (the autouse fixture sets it): the argument must win.
    data = tmp_path / "data"
    data.mkdir()
    (data / "variants.txt").write_text("Dayr Zorro | Deir Ezzor\n", encoding="utf-8")
    qa = NewsQA(data, embedder=embedder)
    qa.ingest(SEEDS)
    answer = qa.ask("Who controls Dayr Zorro?")
    assert not answer.abstained and "Deir Ezzor" in answer.text
    qa.store.close()
    # Without the file the made-up spelling finds nothing to answer from.
    other = NewsQA(tmp_path / "other", embedder=embedder)
    other.ingest(SEEDS)
    assert other.ask("Who controls Dayr Zorro?").abstained
    other.store.close()


def test_every_public_error_is_a_newsqa_error() -> None:
    from app.backends import BackendError
    from app.errors import NothingIndexed, SettingsError
    from app.templates import TemplateError
    from ingest.errors import UsageError
    from ingest.feeds import FeedError
    from ingest.loaders import LoadError
    from ingest.store import StoreError
    from ingest.variants import VariantsError
    from ingest.web import FetchError

    family = [BackendError, NothingIndexed, SettingsError, TemplateError, UsageError, FeedError, LoadError, StoreError, VariantsError, FetchError]
    assert all(issubclass(e, NewsQAError) for e in family)


def test_settings_read_their_variables_and_refuse_bad_values(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSQA_CHOICES", "yes")
    monkeypatch.setenv("NEWSQA_MAX_UPLOAD_MB", "2.5")
    monkeypatch.setenv("NEWSQA_VARIANTS", str(tmp_path / "v.txt"))
    s = Settings.load()
    assert (s.choices, s.max_upload_mb, s.variants) == (True, 2.5, tmp_path / "v.txt")
    assert Settings.load(choices=False).choices is False  # an argument wins
    monkeypatch.setenv("NEWSQA_MAX_UPLOAD_MB", "lots")
    with pytest.raises(NewsQAError, match="NEWSQA_MAX_UPLOAD_MB must be a number of megabytes"):
        Settings.load()
    monkeypatch.setenv("NEWSQA_MAX_UPLOAD_MB", "-1")
    with pytest.raises(NewsQAError, match="must be positive"):
        Settings.load()
    monkeypatch.delenv("NEWSQA_MAX_UPLOAD_MB")
    with pytest.raises(NewsQAError, match="mode must be"):
        Settings.load(mode="poetic")


def test_commands_that_use_no_model_do_not_import_langchain(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from app.cli import main\n"
        f"r = CliRunner().invoke(main, ['stats', '--data-dir', {str(tmp_path / 'd')!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in sys.modules if m.startswith('langchain')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

import json
import shutil

import pytest

from app import NewsQA
from ingest.store import StoreError

from .conftest import SEED_FILE, SEEDS


def test_reingest_adds_nothing(fresh, seed_copy):
    first = fresh.ingest(seed_copy)
    assert (first.added, first.unchanged, first.chunks) == (1, 0, first.chunks_added)
    again = fresh.ingest(seed_copy)
    assert (again.added, again.updated, again.unchanged, again.chunks_added) == (0, 0, 1, 0)
    assert again.chunks == first.chunks and again.articles == 1


def test_a_changed_file_replaces_its_chunks(fresh, seed_copy):
    fresh.ingest(seed_copy)
    before = fresh.store.counts()
    f = seed_copy / SEED_FILE.name
    f.write_text(f.read_text() + "\nA new closing sentence about Raqqa was added later.\n")
    report = fresh.ingest(seed_copy)
    assert (report.added, report.updated) == (0, 1)
    assert fresh.store.counts()[0] == before[0] == 1
    assert "Raqqa" in fresh.ask("What was added about Raqqa?").text


def test_records_with_an_id_update_in_place(fresh, tmp_path):
    f = tmp_path / "feed.jsonl"
    f.write_text(json.dumps({"id": "a1", "title": "Vote", "text": "The council voted 5 to 2 on Monday."}) + "\n")
    assert fresh.ingest(f).added == 1
    f.write_text(json.dumps({"id": "a1", "title": "Vote", "text": "The council voted 6 to 1 on Monday."}) + "\n")
    r = fresh.ingest(f)
    assert (r.updated, r.articles) == (1, 1)
    assert "6 to 1" in fresh.store.article_text("a1")


def test_bad_files_are_reported_and_good_ones_ingested(fresh, tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    shutil.copy(SEED_FILE, d / "good.txt")
    (d / "binary.txt").write_bytes(bytes(range(256)) * 10)
    (d / "empty.txt").write_bytes(b"")
    good = json.dumps({"title": "Floods", "source": "Wire", "text": "Floods hit the valley on Sunday."})
    (d / "items.jsonl").write_text(good + "\n{\"title\": \"cut off\n")
    report = fresh.ingest(d)
    assert report.added == 2
    skipped = {s.path.rsplit("/", 1)[-1]: s.reason for s in report.skipped}
    assert set(skipped) == {"binary.txt", "empty.txt", "items.jsonl:2"}
    assert "binary" in skipped["binary.txt"] and "empty" in skipped["empty.txt"]
    assert "malformed JSON" in skipped["items.jsonl:2"]
    # A second run with the same bad files changes nothing already indexed.
    again = fresh.ingest(d)
    assert (again.added, again.unchanged, again.chunks) == (0, 2, report.chunks)


def test_same_text_under_two_names_is_stored_once(fresh, seed_copy, tmp_path):
    other = tmp_path / "copy.txt"
    shutil.copy(SEED_FILE, other)
    fresh.ingest(seed_copy)
    r = fresh.ingest(other)
    assert r.added == 0 and r.articles == 1


def test_a_second_process_cannot_open_the_embedded_index(fresh, tmp_path):
    import subprocess
    import sys

    code = f"from app import NewsQA; NewsQA({str(fresh.settings.data_dir)!r})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "Another newsqa process is using the index" in out.stderr


def test_a_different_embedding_model_is_refused(fresh, seed_copy):
    fresh.ingest(seed_copy)
    data_dir = fresh.settings.data_dir
    fresh.store.close()

    class Other:
        name, dim = "other-model", 384

        def embed(self, texts):  # pragma: no cover - never reached
            raise AssertionError

    with pytest.raises(StoreError, match="Rebuild it"):
        NewsQA(data_dir, embedder=Other())


def test_seeds_folder_ships_the_seed_article():
    assert (SEEDS / "000_b5f749c51e8e6818.txt").read_text(encoding="utf-8").startswith("Russia launched seven cruise missiles")

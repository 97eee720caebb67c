"""The encoders: the int8 export of the bundled MiniLM (made here, from the bundled weights), the
fp32 fallback, and an index that never mixes the vectors of two encoders."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app import NewsQA, Settings
from app.core import reindex
from app.errors import SettingsError
from ingest.embedder import Embedder, cpu_format, ensure_export, export_folder, resolve_encoder
from ingest.store import ENCODER_KEY, Store, StoreError

from .conftest import ROOT, SEED_FILE

# Three more articles on other topics, so a search has something to choose between.
OTHERS = {
    "harvest.txt": "Title: Record wheat harvest in Kansas\n\nFarmers in Kansas brought in a record wheat harvest this "
    "summer, helped by late rains. Grain elevators ran out of storage space and prices fell to a four-year low.",
    "chip.txt": "Title: Chipmaker posts record revenue\n\nShares of the chipmaker rose 4% after it reported quarterly "
    "revenue of $35 billion, driven by demand for data-center processors used to train artificial intelligence models.",
    "storm.txt": "Title: Hurricane makes landfall in Florida\n\nThe hurricane came ashore near Tampa with winds of 120 mph, "
    "cutting power to two million homes. Officials ordered evacuations along the Gulf coast.",
}
QUESTIONS = {
    "Who controls Deir Ezzor?": SEED_FILE.name,
    "How big was the Kansas wheat harvest?": "harvest.txt",
    "How much revenue did the chipmaker report?": "chip.txt",
    "Where did the hurricane make landfall?": "storm.txt",
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    d = tmp_path / "corpus"
    d.mkdir()
    shutil.copy(SEED_FILE, d / SEED_FILE.name)
    for name, text in OTHERS.items():
        (d / name).write_text(text, encoding="utf-8")
    return d


def _dense_top(qa: NewsQA, question: str) -> str:
    """The file of the nearest chunk by vector search alone (no keyword list to help)."""
    top = qa.store.query(qa.embedder.embed([question])[0], k=1)[0]
    return Path(qa.store.article_meta([top.article_id])[top.article_id]["path"]).name


def test_the_int8_export_is_made_from_the_bundled_weights_and_checked(encoder_cache):
    from ingest.embedder import bundled_model_path

    int8 = Embedder("int8", cache_dir=encoder_cache).load()  # exports, unless an earlier test of this run did
    fmt = int8.encoder.split("-", 1)[1]
    if cpu_format() is not None:
        assert Embedder("auto").encoder == int8.encoder == f"int8-{cpu_format()}"  # the default where int8 is fast
    folder = export_folder(encoder_cache, bundled_model_path(), fmt)
    record = json.loads((folder / "export.json").read_text())
    assert record["format"] == fmt and record["mean_cosine_to_fp32"] >= 0.98
    assert (folder / "model.onnx").stat().st_size < 40_000_000  # int8: about a quarter of the fp32 weights


def test_int8_vectors_agree_with_fp32(embedder, fp32_embedder):
    int8 = Embedder("int8", cache_dir=embedder.cache_dir)
    texts = [*QUESTIONS, *OTHERS.values(), SEED_FILE.read_text(encoding="utf-8")[:900], "  padded  ", ""]
    a, b = int8.embed(texts), fp32_embedder.embed(texts)
    assert a.shape == b.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    cos = (a * b).sum(axis=1)
    assert cos.mean() >= 0.98 and cos.min() >= 0.95
    # Batched with texts of other lengths (padding) or alone: the same vector.
    np.testing.assert_allclose(int8.embed([texts[0]])[0], a[0], atol=1e-4)


def test_int8_retrieval_finds_the_right_article(embedder, corpus, tmp_path):
    int8 = Embedder("int8", cache_dir=embedder.cache_dir)
    qa = NewsQA(tmp_path / "data", embedder=int8)
    qa.ingest(corpus)
    try:
        assert qa.stats()["encoder"] == int8.encoder
        for question, name in QUESTIONS.items():
            assert _dense_top(qa, question) == name, question
        answer = qa.ask("Who controls Deir Ezzor?")
        assert not answer.abstained and "Islamic State" in answer.text
    finally:
        qa.store.close()


def test_fp32_fallback_retrieval_finds_the_right_article(fp32_embedder, corpus, tmp_path):
    qa = NewsQA(tmp_path / "data", embedder=fp32_embedder)
    qa.ingest(corpus)
    try:
        assert qa.stats()["encoder"] == "fp32"
        for question, name in QUESTIONS.items():
            assert _dense_top(qa, question) == name, question
    finally:
        qa.store.close()


def test_the_query_path_imports_no_torch_when_the_export_is_cached(encoder_cache, corpus, tmp_path):
    qa = NewsQA(tmp_path / "data", embedder=Embedder("int8", cache_dir=encoder_cache))  # an index of its own: the session's seeded one stays open
    qa.ingest(corpus)
    qa.store.close()
    code = (
        "import sys; from app import NewsQA; qa = NewsQA(sys.argv[1]); a = qa.ask('Who controls Deir Ezzor?'); "
        "assert not a.abstained, a.text; heavy = ('torch', 'transformers', 'sentence_transformers', 'langchain_core', "
        "'gradio', 'llama_cpp'); print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "data")], capture_output=True, text=True, timeout=300,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_another_encoder_is_refused_with_the_command_that_re_embeds(fp32_embedder, embedder, corpus, tmp_path):
    data = tmp_path / "data"
    qa = NewsQA(data, embedder=fp32_embedder)
    qa.ingest(corpus)
    qa.store.close()
    with pytest.raises(StoreError, match=r"fp32 encoder.*`newsqa reindex --encoder int8 --data-dir "):
        NewsQA(data, embedder=Embedder("int8", cache_dir=embedder.cache_dir))
    # "auto" keeps the index's own encoder: the index goes on working, with vectors of one kind.
    auto = Embedder("auto", cache_dir=embedder.cache_dir)
    qa = NewsQA(data, embedder=auto)
    try:
        assert auto.encoder == "fp32" and qa.stats()["encoder"] == "fp32"
        assert _dense_top(qa, "Where did the hurricane make landfall?") == "storm.txt"
    finally:
        qa.store.close()


def test_an_index_from_before_encoders_were_recorded_counts_as_fp32(fp32_embedder, embedder, corpus, tmp_path):
    data = tmp_path / "data"
    qa = NewsQA(data, embedder=fp32_embedder)
    qa.ingest(corpus)
    for col in (qa.store.chunks, qa.store.articles, qa.store.state):  # what an older newsqa wrote
        col.modify(metadata={k: v for k, v in col.metadata.items() if k != ENCODER_KEY and not k.startswith("hnsw:")})
    qa.store.close()
    with pytest.raises(StoreError, match="holds vectors of the fp32 encoder"):
        Store(Embedder("int8", cache_dir=embedder.cache_dir), path=data)
    store = Store(Embedder("auto", cache_dir=embedder.cache_dir), path=data)
    assert store.encoder == "fp32"
    store.close()


def test_reindex_re_embeds_every_vector_and_survives_an_interruption(fp32_embedder, embedder, corpus, tmp_path):
    data = tmp_path / "data"
    qa = NewsQA(data, embedder=fp32_embedder)
    qa.ingest(corpus)
    n_chunks = qa.store.counts()[1]
    qa.store.close()
    target = resolve_encoder("int8")
    # An interrupted re-embed (marked, then stopped) leaves an index that is refused until it is finished.
    store = Store(Embedder(target, cache_dir=embedder.cache_dir), path=data, check_encoder=False)
    store.begin_reembed(target)
    store.close()
    for enc in ("fp32", "auto", target):
        with pytest.raises(StoreError, match=f"was interrupted.*`newsqa reindex --encoder {target} --data-dir "):
            Store(Embedder(enc, cache_dir=embedder.cache_dir), path=data)

    settings = Settings.load(data_dir=data, encoder="int8", cache_dir=embedder.cache_dir)
    done = reindex(settings)
    assert done == {"from": f"reembedding-to:{target}", "to": target, "chunks": n_chunks}
    assert reindex(settings)["chunks"] == 0  # already done

    int8 = Embedder("int8", cache_dir=embedder.cache_dir)
    qa = NewsQA(data, embedder=int8)
    try:
        assert qa.stats()["encoder"] == target and qa.store.verify() == []
        got = qa.store.chunks.get(include=["documents", "metadatas", "embeddings"])
        texts = [f"{m['title']}\n{d}" if m.get("title") else d for d, m in zip(got["documents"], got["metadatas"])]
        np.testing.assert_allclose(np.asarray(got["embeddings"]), int8.embed(texts), atol=1e-4)
        for question, name in QUESTIONS.items():
            assert _dense_top(qa, question) == name, question
    finally:
        qa.store.close()


def test_an_unwritable_cache_falls_back_to_a_temp_folder(encoder_cache, tmp_path, monkeypatch):
    import tempfile

    from ingest.embedder import bundled_model_path

    fmt = Embedder("int8", cache_dir=encoder_cache).load().encoder.split("-", 1)[1]
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    import os

    fallback = tmp_path / "tmp" / f"newsqa-{os.getuid()}"
    # The export the session made, in the fallback's place, so this test does not export again.
    src = export_folder(encoder_cache, bundled_model_path(), fmt)
    alt = export_folder(fallback, bundled_model_path(), fmt)
    alt.parent.mkdir(parents=True)
    shutil.copytree(src, alt)
    assert ensure_export(bundled_model_path(), fmt, blocked / "cache") == alt


def test_the_encoder_setting_is_checked():
    with pytest.raises(SettingsError, match="NEWSQA_ENCODER must be one of"):
        Settings.load(encoder="int4")
    assert Settings.load(encoder=" FP32 ").encoder == "fp32"

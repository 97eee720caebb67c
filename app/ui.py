"""The chat page: a thin Gradio shell over NewsQA. Gradio is imported only inside functions.

Everything that comes from an article (titles, text, outlets, URLs) or from a person (questions,
file names) is escaped before it reaches the page, and links are kept only when they are http(s).
The functions above `create_app` are plain Python, so tests drive the page's logic without a browser.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import unicodedata
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from ingest.loaders import SUFFIXES
from ingest.models import IngestReport, Skip

from .config import Settings
from .core import NewsQA, default_seeds
from .errors import NewsQAError, SettingsError
from .models import Answer, Citation

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|>~])")
_MD_UNESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-!|>~])")

SEARCHING = "*Searching the articles…*"


def escape_md(text: str) -> str:
    """Article text as literal Markdown: HTML escaped, Markdown syntax backslashed."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def unescape_md(text: str) -> str:
    """The inverse of `escape_md` (to read questions back out of the chat history)."""
    return html.unescape(_MD_UNESCAPE.sub(r"\1", text))


def safe_url(url: str | None) -> str | None:
    return url if url and re.match(r"^https?://", url, re.IGNORECASE) else None


def message_text(message: dict[str, Any]) -> str:
    """The text of a chat message, whether its content is a string or Gradio 6's list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text")
    return ""


def _turn_number(history: list[dict[str, Any]]) -> int:
    return sum(1 for m in history if m.get("role") == "user")


def answer_markdown(answer: Answer, turn: int = 1) -> str:
    """The answer for the chat bubble: escaped sentences, [n] linking to the source cards, the date."""
    if answer.abstained:
        return escape_md(answer.text)
    parts = []
    for s in answer.sentences:
        marks = "".join(f"[\\[{n}\\]](#source-{turn}-{n})" for n in s.citations)
        if s.support == "verdict":  # the model's unchecked yes/no reads apart from what was checked
            parts.append(f"*{escape_md(s.text)}*")
            continue
        parts.append(f"{escape_md(s.text)} {marks}")
    warnings = "".join(f"\n\n⚠️ {escape_md(w)}" for w in answer.warnings)
    return " ".join(parts) + f"\n\n*{escape_md(answer.as_of_text)}*" + warnings


def source_card(c: Citation, turn: int = 1) -> str:
    """One citation as HTML: title, outlet, date, link, and the passage with the quote highlighted."""
    title = html.escape(c.title or "(untitled)")
    url = safe_url(c.url)
    link = (
        f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer nofollow">{title}</a>'
        if url
        else title
    )
    meta = f"{html.escape(c.source or 'outlet unknown')} · {html.escape(c.date or 'date unknown')}"
    also = getattr(c, "also_published_by", None)
    if also:
        meta += f" · also published by {html.escape(', '.join(also))}"
    body = _highlighted(c)
    flag = (
        '<div class="newsqa-flag">⚠️ This article carries chat-role or control text (text written to steer a chatbot); '
        "none of it is used as an answer.</div>"
        if getattr(c, "control_text", False)
        else ""
    )
    return (
        f'<div class="newsqa-card" id="source-{turn}-{c.n}"><div class="newsqa-card-title"><b>[{c.n}]</b> {link}</div>'
        f'<div class="newsqa-meta">{meta}</div>{flag}<p class="newsqa-passage">{body}</p></div>'
    )


def _highlighted(c: Citation) -> str:
    """The passage as HTML with each quoted sentence marked (one mark per supporting sentence)."""
    passage = c.passage or c.quote
    a, b = c.start - c.passage_start, c.end - c.passage_start
    if not (0 <= a <= b <= len(passage)) or passage[a:b] != c.quote:
        passage, a, b = c.quote, 0, len(c.quote)
        spans = [(0, len(c.quote))]
    else:
        spans = [(x - c.passage_start, y - c.passage_start) for x, y in (c.spans or [(c.start, c.end)])]
        if not all(a <= x <= y <= b for x, y in spans):
            spans = [(a, b)]
    merged: list[tuple[int, int]] = []
    for x, y in sorted(spans):  # adjacent sentences read as one quote: one mark
        if merged and not passage[merged[-1][1] : x].strip():
            merged[-1] = (merged[-1][0], max(y, merged[-1][1]))
        else:
            merged.append((x, y))
    # The words that answer (a date, a number, a name) stand out inside their sentence's mark.
    key = None
    span = getattr(c, "answer_span", None)
    if span and len(span) == 2:
        ka, kb = span[0] - c.passage_start, span[1] - c.passage_start
        if any(x <= ka < kb <= y for x, y in merged):
            key = (ka, kb)

    def marked(x: int, y: int) -> str:
        if key is None or not (x <= key[0] < key[1] <= y):
            return html.escape(passage[x:y])
        return (
            f"{html.escape(passage[x : key[0]])}<strong class=\"newsqa-answer\">{html.escape(passage[key[0] : key[1]])}</strong>"
            f"{html.escape(passage[key[1] : y])}"
        )

    out, at = [], 0
    for x, y in merged:
        x = max(x, at)
        out.append(f"{html.escape(passage[at:x])}<mark>{marked(x, y)}</mark>")
        at = y
    return "".join(out) + html.escape(passage[at:])


def context_card(c: Citation, turn: int = 1) -> str:
    """A close passage shown beside the answer (or a near-miss): a source card marked as context, not cited."""
    card = source_card(c, turn).replace('class="newsqa-card"', 'class="newsqa-card newsqa-context"', 1)
    return card.replace(f"<b>[{c.n}]</b>", "<b>context</b>", 1)


def sources_html(answer: Answer | None, turn: int = 1) -> str:
    """The source cards of one answer, then its context cards (an empty panel when there are none)."""
    context = list(getattr(answer, "context", None) or []) if answer is not None else []
    if answer is None or not (answer.citations or context):
        return '<div class="newsqa-sources"></div>'
    extra = ""
    if context:
        label = "Closest passages (they don't answer the question)" if answer.abstained else "Context: other close passages"
        extra = f'<div class="newsqa-context-label">{label}</div>' + "".join(context_card(c, turn) for c in context)
    return (
        f'<div class="newsqa-sources" data-turn="{turn}">'
        + "".join(source_card(c, turn) for c in answer.citations)
        + extra
        + "</div>"
    )


def earlier_sources_html(groups: list[tuple[int, str, str]]) -> str:
    """Source cards of earlier answers, folded, newest first, so their [n] markers still lead somewhere.

    Args:
        groups: (turn, question, cards HTML) of earlier answers, newest first.
    """
    return "".join(
        f'<details class="newsqa-earlier"><summary>Sources of answer {t}: {html.escape(q[:80])}</summary>{cards}</details>'
        for t, q, cards in groups
    )


def parse_day(value: str | None, label: str) -> str | None:
    """A filter date as YYYY-MM-DD, or None when blank; a clear error otherwise."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise NewsQAError(f"The {label} date must look like 2017-09-15 (YYYY-MM-DD), not {value!r}.") from None


def respond(
    qa: NewsQA,
    message: str,
    history: list[dict[str, Any]],
    date_from: str | None = None,
    date_to: str | None = None,
    sources: list[str] | None = None,
) -> Iterator[tuple[list[dict[str, Any]], str]]:
    """Drive one chat turn: yields (chat history, source cards HTML) as the answer streams in.

    Args:
        qa: the NewsQA to ask.
        message: the question as typed.
        history: the chat so far, in messages format (content a string or a list of text parts).
        date_from / date_to: optional YYYY-MM-DD limits.
        sources: outlets to search (all when empty).
    """
    # A new list each turn: the caller's (and other sessions') histories are never changed.
    history = [{"role": m.get("role"), "content": message_text(m)} for m in (history or [])]
    earlier = [unescape_md(m["content"]) for m in history if m["role"] == "user" and m["content"].strip()]
    turn = _turn_number(history) + 1
    history.append({"role": "user", "content": escape_md(message or "")})
    history.append({"role": "assistant", "content": SEARCHING})
    yield list(history), sources_html(None)
    shown = ""
    try:
        stream = qa.stream(
            message or "",
            history=earlier,
            date_from=parse_day(date_from, "From"),
            date_to=parse_day(date_to, "To"),
            sources=list(sources or []) or None,
        )
        for item in stream:
            if isinstance(item, Answer):
                history[-1] = {"role": "assistant", "content": answer_markdown(item, turn)}
                yield list(history), sources_html(item, turn)
            else:
                shown += item
                history[-1] = {"role": "assistant", "content": escape_md(shown)}
                yield list(history), sources_html(None)
    except NewsQAError as e:
        history[-1] = {"role": "assistant", "content": f"⚠️ {escape_md(str(e))}"}
        yield list(history), sources_html(None)
    except Exception as e:
        history[-1] = {
            "role": "assistant",
            "content": f"⚠️ Something went wrong ({escape_md(type(e).__name__)}). "
            "Try again; if it persists, check the server log.",
        }
        yield list(history), sources_html(None)


# --- uploads ------------------------------------------------------------------------------------


def max_upload_mb(settings: Settings | None = None) -> float:
    """The upload size limit in MB (`Settings.max_upload_mb`: NEWSQA_MAX_UPLOAD_MB, default 20)."""
    return (settings or Settings.load()).max_upload_mb


def safe_filename(name: str) -> str:
    """A file name that stays inside the upload folder: no folders, no dots in front, plain characters."""
    name = unicodedata.normalize("NFKC", str(name)).replace("\\", "/").split("/")[-1]
    name = re.sub(r"[^\w.\- ]", "_", name, flags=re.ASCII).strip(" .")
    name = re.sub(r"[ _]{2,}", "_", name)
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = stem[:80].strip(" .") or "upload"
    return f"{stem}.{suffix[:10]}" if suffix else stem


def save_uploads(
    paths: list[str | os.PathLike], upload_dir: Path, max_mb: float | None = None
) -> tuple[list[Path], list[Skip]]:
    """Copy uploaded files into `upload_dir` under safe, content-addressed names.

    Files of a type ingest cannot read, or bigger than the limit, are skipped with a reason.
    Two different files with the same name never overwrite each other (the name carries a
    hash of the content); the same file uploaded twice lands on the same name.

    Returns:
        The saved copies, and the skipped uploads.
    """
    limit = max_upload_mb() if max_mb is None else max_mb
    upload_dir.mkdir(parents=True, exist_ok=True)
    root = upload_dir.resolve()
    saved: list[Path] = []
    skipped: list[Skip] = []
    for raw in paths:
        src = Path(raw)
        name = safe_filename(src.name)
        suffix = Path(name).suffix.lower()
        if suffix not in SUFFIXES:
            skipped.append(Skip(name, f"unsupported file type {suffix or '(none)'!r}: upload {', '.join(sorted(SUFFIXES))}"))
            continue
        try:
            size = src.stat().st_size
        except OSError as e:
            skipped.append(Skip(name, f"cannot read the upload: {e.strerror or e}"))
            continue
        if size > limit * 1024 * 1024:
            skipped.append(Skip(name, f"file too large ({size / 1024 / 1024:.1f} MB; the limit is {limit:g} MB)"))
            continue
        digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
        dest = (root / f"{Path(name).stem}-{digest}{suffix}").resolve()
        if dest.parent != root:  # cannot happen after safe_filename; refuse rather than trust it
            skipped.append(Skip(name, "unsafe file name"))
            continue
        if not dest.exists():
            tmp = dest.with_name(f".{dest.name}.part")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        saved.append(dest)
    return saved, skipped


def report_markdown(report: IngestReport, root: Path | None = None) -> str:
    """The ingest report for the page: counts, then each skipped file with its reason."""

    def short(path: str) -> str:
        # Uploads are shown by the name they were uploaded under, not the server's folder or hash.
        if root is not None and path.startswith(str(root) + os.sep):
            path = re.sub(r"-[0-9a-f]{12}(\.\w+)", r"\1", path[len(str(root)) + 1 :], count=1)
        return path

    lines = [
        f"**Added {report.added}**, updated {report.updated}, unchanged {report.unchanged}, "
        f"skipped {len(report.skipped)}. The index now holds {report.articles} articles, {report.chunks} chunks."
    ]
    lines += [f"- skipped **{escape_md(short(s.path))}**: {escape_md(s.reason)}" for s in report.skipped]
    return "\n".join(lines)


def ingest_uploads(
    qa: NewsQA, paths: list[str | os.PathLike] | None, on_progress: Callable[[int, int | None], None] | None = None
) -> tuple[str, IngestReport | None]:
    """Save uploaded files under DATA_DIR/uploads and ingest them.

    Returns:
        The report as Markdown, and the IngestReport (None when nothing was uploaded).
    """
    if not paths:
        return "Choose one or more files to add (" + ", ".join(sorted(SUFFIXES)) + ").", None
    upload_dir = Path(qa.settings.data_dir) / "uploads"
    saved, skipped = save_uploads(list(paths), upload_dir, max_upload_mb(qa.settings))
    if saved:
        report = qa.ingest(*saved, on_progress=on_progress)
    else:
        report = IngestReport()
        report.articles, report.chunks = qa.store.counts()
    report.skipped = skipped + report.skipped
    return report_markdown(report, upload_dir.resolve()), report


def stats_markdown(qa: NewsQA) -> str:
    """Index facts at a glance: articles, chunks, date range, outlets."""
    s = qa.stats()
    dates = f"{s['date_from']} to {s['date_to']}" if s["date_from"] else "no dates known"
    if s["undated"]:
        dates += f" ({s['undated']} undated)"
    names = list(s["outlets"])
    outlets = ", ".join(f"{escape_md(o)} ({s['outlets'][o]})" for o in names[:8]) or "none known"
    if len(names) > 8:
        outlets += f" and {len(names) - 8} more"
    return f"**{s['articles']}** articles · **{s['chunks']}** chunks · {dates} · outlets: {outlets}"


def outlet_choices(qa: NewsQA) -> list[str]:
    return sorted(qa.stats()["outlets"])


_CSS = """
.newsqa-card { border: 1px solid var(--border-color-primary, #ddd); border-radius: 8px; padding: 8px 12px; margin: 6px 0; }
.newsqa-meta { color: var(--body-text-color-subdued, #666); font-size: 0.9em; }
.newsqa-card mark { background: #fff3a0; color: #111; }
.newsqa-card mark strong.newsqa-answer { background: #ffd24d; }
.newsqa-card.newsqa-context { opacity: 0.85; border-style: dashed; }
.newsqa-context-label { font-size: 0.9em; margin-top: 8px; color: var(--body-text-color-subdued, #666); }
.newsqa-flag { font-size: 0.9em; color: #8a4b00; margin: 2px 0; }
.newsqa-card.newsqa-flash { outline: 3px solid #f5b400; }
.newsqa-passage { margin: 4px 0 0 0; }
.newsqa-earlier { margin-top: 10px; color: var(--body-text-color-subdued, #666); }
.newsqa-earlier summary { cursor: pointer; }
"""

# [n] markers are in-page links (#source-T-N); this moves the reader to that card and marks it.
_HEAD = """
<script>
document.addEventListener("click", function (e) {
  var a = e.target.closest && e.target.closest('a[href^="#source-"]');
  if (!a) return;
  e.preventDefault();
  e.stopPropagation();
  var card = document.getElementById(a.getAttribute("href").slice(1));
  if (!card) return;
  var folded = card.closest("details");
  if (folded) folded.open = true;
  card.scrollIntoView({behavior: "smooth", block: "center"});
  card.classList.add("newsqa-flash");
  setTimeout(function () { card.classList.remove("newsqa-flash"); }, 2000);
}, true);
</script>
"""


def create_app(qa: NewsQA):
    """Build the Gradio Blocks app (not launched)."""
    # newsqa serves people offline and never phones home (Gradio's version check and telemetry).
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    types = sorted(SUFFIXES)
    # Gradio keeps each upload in its temp folder; ours are copied to DATA_DIR/uploads, so a
    # server running all day drops Gradio's copies after a day (checked hourly).
    with gr.Blocks(title="newsqa", delete_cache=(3600, 86400)) as demo:
        gr.Markdown("# newsqa\nAsk about the indexed news articles. Every claim cites the sentence it comes from.")
        stats = gr.Markdown(stats_markdown(qa), elem_id="newsqa-stats")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    label="Chat", height=520, elem_id="newsqa-chat", feedback_options=None, buttons=["copy"]
                )
                with gr.Row():
                    box = gr.Textbox(
                        placeholder="Who controls Deir Ezzor?", show_label=False, elem_id="newsqa-question", scale=5
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="newsqa-ask")
                with gr.Accordion("Filters for the next question", open=False, elem_id="newsqa-filters"):
                    with gr.Row():
                        date_from = gr.Textbox(label="From (YYYY-MM-DD)", elem_id="newsqa-from")
                        date_to = gr.Textbox(label="To (YYYY-MM-DD)", elem_id="newsqa-to")
                        outlets = gr.Dropdown(
                            choices=outlet_choices(qa), multiselect=True, label="Outlets (all when empty)",
                            elem_id="newsqa-outlets",
                        )
                new_chat = gr.Button("New conversation", size="sm", elem_id="newsqa-new")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                cards = gr.HTML(sources_html(None), elem_id="newsqa-sources")
                with gr.Accordion("Add articles", open=False, elem_id="newsqa-add"):
                    files = gr.File(
                        label=f"Upload {' '.join(types)} (up to {max_upload_mb(qa.settings):g} MB each)",
                        file_count="multiple", file_types=types, elem_id="newsqa-upload",
                    )
                    report = gr.Markdown(elem_id="newsqa-report")

        # Per browser session: the source cards of earlier answers (at most 10 kept).
        past = gr.State([])

        def turn(message: str, history: list[dict[str, Any]], f: str, t: str, o: list[str], earlier: list):
            if not (message or "").strip():
                yield history, gr.skip(), message, earlier
                return
            number = _turn_number(history or []) + 1
            folded = earlier_sources_html(earlier)
            cards_now = ""
            for h, c in respond(qa, message, history, f, t, o):
                cards_now = c
                yield h, c + folded, "", earlier
            if 'class="newsqa-card"' in cards_now:
                yield gr.skip(), gr.skip(), gr.skip(), [(number, message, cards_now), *earlier][:10]

        def upload(paths: list[str] | None, progress=gr.Progress()):  # noqa: B008 (Gradio's idiom)
            def on_progress(done: int, total: int | None) -> None:
                progress((done, total or done), desc="Ingesting", unit="articles")

            try:
                text, _ = ingest_uploads(qa, paths, on_progress)
            except (NewsQAError, OSError) as e:
                text = f"⚠️ {escape_md(str(e))}"
            except Exception as e:
                text = f"⚠️ The upload failed ({escape_md(type(e).__name__)}); nothing else changed. Check the server log."
            return text, stats_markdown(qa), gr.Dropdown(choices=outlet_choices(qa)), None

        def refresh():
            return stats_markdown(qa), gr.Dropdown(choices=outlet_choices(qa))

        inputs = [box, chat, date_from, date_to, outlets, past]
        box.submit(turn, inputs, [chat, cards, box, past])
        send.click(turn, inputs, [chat, cards, box, past])
        new_chat.click(lambda: ([], sources_html(None), []), None, [chat, cards, past], queue=False)
        chat.clear(lambda: (sources_html(None), []), None, [cards, past], queue=False)
        # One ingest at a time: the embedded index has one writer.
        files.upload(upload, files, [report, stats, outlets, files], concurrency_limit=1, concurrency_id="ingest")
        demo.load(refresh, None, [stats, outlets])

        def ask(question: str) -> dict:
            """The Answer as JSON, for scripts, load tests and other workers (`/gradio_api/call/ask`)."""
            try:
                return qa.ask(question).to_dict()
            except NewsQAError as e:
                raise gr.Error(str(e)) from e

        # A stable endpoint that does not depend on the page's layout.
        gr.api(ask, api_name="ask")
    return demo


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """`user:password` as a (user, password) pair; None when no login is wanted."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise SettingsError("--auth / NEWSQA_AUTH must be user:password (both non-empty)")
    return user, password


def launch(qa: NewsQA) -> None:
    """Ingest the sample articles into an empty index, then serve the page."""
    settings = qa.settings
    auth = parse_auth(settings.auth)
    limit = max_upload_mb(settings)
    if qa.store.counts()[0] == 0:
        seeds = settings.seeds or default_seeds()
        if seeds:
            print(f"Empty index: ingesting the sample articles in {seeds}")
            print(qa.ingest(seeds, progress=True).summary())
    demo = create_app(qa)
    from .server import serve  # the page and the OpenAI-compatible API (/v1) on one port

    # Questions from several people run side by side; each turn's history is its own.
    serve(
        demo.queue(default_concurrency_limit=4),
        qa,
        auth=auth,
        auth_message="This newsqa server asks for a login.",
        css=_CSS,
        head=_HEAD,
        show_error=False,
        max_file_size=int(limit * 1024 * 1024),
    )

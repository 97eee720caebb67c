"""The chat page: a thin Gradio shell over NewsQA. Gradio is imported only inside functions.

Everything that comes from an article (titles, text, outlets, URLs) is escaped before it
reaches the page, and links are kept only when they are http(s).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

from ingest.store import StoreError

from .backends import BackendError
from .core import NewsQA, NewsQAError, default_seeds
from .models import Answer, Citation

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|>~])")


def escape_md(text: str) -> str:
    """Article text as literal Markdown: HTML escaped, Markdown syntax backslashed."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def safe_url(url: str | None) -> str | None:
    return url if url and re.match(r"^https?://", url, re.IGNORECASE) else None


def answer_markdown(answer: Answer) -> str:
    """The answer for the chat bubble: escaped sentences, [n] linking to the source cards, the date."""
    if answer.abstained:
        return escape_md(answer.text)
    parts = []
    for s in answer.sentences:
        marks = "".join(f"[\\[{n}\\]](#source-{n})" for n in s.citations)
        parts.append(f"{escape_md(s.text)} {marks}")
    return " ".join(parts) + f"\n\n*{escape_md(answer.as_of_text)}*"


def source_card(c: Citation) -> str:
    """One citation as HTML: title, outlet, date, link, and the passage with the quote highlighted."""
    title = html.escape(c.title or "(untitled)")
    url = safe_url(c.url)
    link = f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">{title}</a>' if url else title
    meta = f"{html.escape(c.source or 'outlet unknown')} · {html.escape(c.date or 'date unknown')}"
    passage = c.passage or c.quote
    a, b = c.start - c.passage_start, c.end - c.passage_start
    if not (0 <= a <= b <= len(passage)) or passage[a:b] != c.quote:
        passage, a, b = c.quote, 0, len(c.quote)
    body = f"{html.escape(passage[:a])}<mark>{html.escape(passage[a:b])}</mark>{html.escape(passage[b:])}"
    return (
        f'<div class="newsqa-card" id="source-{c.n}"><div><b>[{c.n}]</b> {link}</div>'
        f'<div class="newsqa-meta">{meta}</div><p>{body}</p></div>'
    )


def sources_html(answer: Answer | None) -> str:
    if answer is None or not answer.citations:
        return '<div class="newsqa-sources"></div>'
    return '<div class="newsqa-sources">' + "".join(source_card(c) for c in answer.citations) + "</div>"


def respond(
    qa: NewsQA,
    message: str,
    history: list[dict[str, Any]],
    date_from: str | None = None,
    date_to: str | None = None,
    sources: list[str] | None = None,
) -> Iterator[tuple[list[dict[str, Any]], str]]:
    """Drive one chat turn: yields (chat history, source cards HTML) as the answer streams in."""
    history = list(history or [])
    earlier = [m["content"] for m in history if m.get("role") == "user" and isinstance(m.get("content"), str)]
    history.append({"role": "user", "content": message})
    history.append({"role": "assistant", "content": ""})
    shown = ""
    try:
        for item in qa.stream(
            message, history=earlier, date_from=date_from or None, date_to=date_to or None, sources=sources or None
        ):
            if isinstance(item, Answer):
                history[-1] = {"role": "assistant", "content": answer_markdown(item)}
                yield history, sources_html(item)
            else:
                shown += item
                history[-1] = {"role": "assistant", "content": escape_md(shown)}
                yield history, sources_html(None)
    except (NewsQAError, StoreError, BackendError, ValueError) as e:
        history[-1] = {"role": "assistant", "content": f"⚠️ {escape_md(str(e))}"}
        yield history, sources_html(None)
    except Exception as e:
        history[-1] = {"role": "assistant", "content": f"⚠️ Something went wrong ({escape_md(type(e).__name__)}). Try again; if it persists, check the server log."}
        yield history, sources_html(None)


def stats_markdown(qa: NewsQA) -> str:
    s = qa.stats()
    dates = f"{s['date_from']} to {s['date_to']}" if s["date_from"] else "no dates known"
    outlets = ", ".join(escape_md(o) for o in list(s["outlets"])[:8]) or "none known"
    return f"**{s['articles']}** articles · **{s['chunks']}** chunks · {dates} · outlets: {outlets}"


_CSS = """
.newsqa-card { border: 1px solid #ddd; border-radius: 8px; padding: 8px 12px; margin: 6px 0; }
.newsqa-meta { color: #666; font-size: 0.9em; }
.newsqa-card mark { background: #fff3a0; }
"""


def create_app(qa: NewsQA):
    """Build the Gradio Blocks app (not launched)."""
    import gradio as gr

    with gr.Blocks(title="newsqa") as demo:
        gr.Markdown("# newsqa\nAsk about the indexed news articles. Every claim cites the sentence it comes from.")
        stats = gr.Markdown(stats_markdown(qa), elem_id="newsqa-stats")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Chat", height=480, elem_id="newsqa-chat")
                box = gr.Textbox(placeholder="Who controls Deir Ezzor?", show_label=False, elem_id="newsqa-question")
                with gr.Row():
                    date_from = gr.Textbox(label="From (YYYY-MM-DD)", scale=1)
                    date_to = gr.Textbox(label="To (YYYY-MM-DD)", scale=1)
                    outlets = gr.Dropdown(choices=list(qa.stats()["outlets"]), multiselect=True, label="Outlets", scale=2)
            with gr.Column(scale=2):
                cards = gr.HTML(sources_html(None), elem_id="newsqa-sources")

        def turn(message: str, history: list[dict[str, Any]], f: str, t: str, o: list[str]):
            for h, c in respond(qa, message, history, f, t, o):
                yield h, c, ""

        box.submit(turn, [box, chat, date_from, date_to, outlets], [chat, cards, box])
        demo.load(lambda: stats_markdown(qa), None, stats)
    return demo


def launch(qa: NewsQA) -> None:
    """Ingest the sample articles into an empty index, then serve the page."""
    settings = qa.settings
    if qa.store.counts()[0] == 0:
        seeds = settings.seeds or default_seeds()
        if seeds:
            print(f"Empty index: ingesting the sample articles in {seeds}")
            print(qa.ingest(seeds, progress=True).summary())
    auth = None
    if settings.auth:
        user, _, password = settings.auth.partition(":")
        auth = (user, password)
    demo = create_app(qa)
    demo.queue(default_concurrency_limit=4).launch(
        server_name=settings.host, server_port=settings.port, auth=auth, css=_CSS, show_error=False
    )

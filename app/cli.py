"""The `newsqa` command: a thin shell over the Python API; errors become messages here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import click

from .config import Settings
from .core import NewsQA
from .errors import NewsQAError


@contextmanager
def _friendly_errors() -> Iterator[None]:
    try:
        yield
    except NewsQAError as e:  # the family of errors a person can fix; anything else is a bug
        raise click.ClickException(str(e)) from e


_common = [
    click.option("--data-dir", type=click.Path(file_okay=False), help="Index folder [NEWSQA_DATA_DIR]."),
    click.option("--chroma-url", help="Chroma server, e.g. http://127.0.0.1:8000 [NEWSQA_CHROMA_URL]."),
]


def common(f):
    for opt in reversed(_common):
        f = opt(f)
    return f


def _open(data_dir: str | None, chroma_url: str | None, **kw) -> NewsQA:
    return NewsQA(settings=Settings.load(data_dir=data_dir, chroma_url=chroma_url, **kw))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="newsqa")
def main() -> None:
    """Ask questions about news articles; answers cite the exact sentence of a dated article."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--map", "column_map", metavar="FIELD=COLUMN,...",
              help="Which CSV column / JSON key holds each field, e.g. text=body,published_at=date.")
@common
def ingest(paths: tuple[str, ...], as_json: bool, column_map: str | None, data_dir: str | None, chroma_url: str | None) -> None:
    """Add articles to the index from PATHS: files and folders (.txt .md .html .json .jsonl .csv),
    web page URLs, RSS/Atom feed URLs, or .txt/.opml files listing such URLs."""
    from ingest.loaders import parse_column_map

    with _friendly_errors():
        columns = parse_column_map(column_map)
        qa = _open(data_dir, chroma_url)
        report = qa.ingest(*paths, progress=not as_json, columns=columns or None)
    if as_json:
        d = report.to_dict()
        click.echo(json.dumps({k: d[k] for k in ("added", "updated", "unchanged", "skipped", "articles", "chunks")}))
    else:
        click.echo(report.summary())


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the Answer as JSON.")
@click.option("--mode", type=click.Choice(["extractive", "generative"]), help="Answer mode [NEWSQA_MODE].")
@click.option("--llm", help="llamacpp | llamacpp:/path.gguf | openai:<model> [NEWSQA_LLM].")
@click.option("--llm-base-url", help="OpenAI-compatible server URL [OPENAI_BASE_URL].")
@click.option("--since", "date_from", help="Only articles published on or after this ISO date.")
@click.option("--until", "date_to", help="Only articles published on or before this ISO date.")
@click.option("--source", "sources", multiple=True, help="Only this outlet (repeatable).")
@click.option("--today", help="The date the question is asked on (default: today).")
@common
def ask(question: str, as_json: bool, mode: str | None, llm: str | None, llm_base_url: str | None,
        date_from: str | None, date_to: str | None, sources: tuple[str, ...], today: str | None,
        data_dir: str | None, chroma_url: str | None) -> None:
    """Answer QUESTION from the indexed articles, with citations."""
    with _friendly_errors():
        qa = _open(data_dir, chroma_url, llm=llm, llm_base_url=llm_base_url)
        answer = qa.ask(question, mode=mode, date_from=date_from, date_to=date_to, sources=list(sources), today=today)
    click.echo(answer.to_json(indent=2) if as_json else answer.render())


@main.command()
@click.argument("feeds", nargs=-1, required=True)
@click.option("--interval", default=900.0, show_default=True, help="Seconds between polls.")
@click.option("--max-polls", type=int, help="Stop after this many polls (default: run until Ctrl-C).")
@click.option("--once", is_flag=True, help="Poll once and stop (same as --max-polls 1).")
@click.option("--json", "as_json", is_flag=True, help="Print each poll's report as a JSON line.")
@common
def watch(feeds: tuple[str, ...], interval: float, max_polls: int | None, once: bool, as_json: bool,
          data_dir: str | None, chroma_url: str | None) -> None:
    """Poll FEEDS (RSS/Atom URLs or .txt/.opml feed lists) and add new or changed entries."""
    from ingest.watch import feed_urls
    from ingest.watch import watch as watch_feeds

    def show(n: int, report) -> None:
        if as_json:
            d = report.to_dict()
            keys = ("added", "updated", "unchanged", "skipped", "articles", "chunks")
            click.echo(json.dumps({"poll": n, **{k: d[k] for k in keys}}))
        else:
            click.echo(f"poll {n}: {report.summary()}")

    with _friendly_errors():
        urls = feed_urls(feeds)
        qa = _open(data_dir, chroma_url)
        try:
            watch_feeds(urls, qa.store, interval=interval, max_polls=1 if once else max_polls, on_report=show)
        except KeyboardInterrupt:
            click.echo("stopped")


@main.command()
@click.option("--encoder", type=click.Choice(["auto", "int8", "fp32", "int8-avx512_vnni", "int8-avx2", "int8-arm64"]),
              help="The encoder to re-embed with (auto: the best for this CPU) [NEWSQA_ENCODER].")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@common
def reindex(encoder: str | None, as_json: bool, data_dir: str | None, chroma_url: str | None) -> None:
    """Encode every indexed chunk again with ENCODER (after changing NEWSQA_ENCODER, or to finish an interrupted re-embed)."""
    from .core import reindex as reindex_index

    with _friendly_errors():
        done = reindex_index(Settings.load(data_dir=data_dir, chroma_url=chroma_url, encoder=encoder), progress=not as_json)
    if as_json:
        click.echo(json.dumps(done))
    elif done["chunks"] == 0:
        click.echo(f"The index already uses the {done['to']} encoder: nothing to do.")
    else:
        click.echo(f"Re-embedded {done['chunks']} chunks: {done['from']} -> {done['to']}.")


@main.command()
@common
def stats(data_dir: str | None, chroma_url: str | None) -> None:
    """Show what is indexed: articles, chunks, dates, outlets."""
    with _friendly_errors():
        click.echo(json.dumps(_open(data_dir, chroma_url).stats(), indent=2, ensure_ascii=False))


@main.command()
@click.option("--host", help="Address to listen on [NEWSQA_HOST, default 127.0.0.1].")
@click.option("--port", type=int, help="Port [NEWSQA_PORT, default 7860].")
@click.option("--auth", help="user:password required to open the page [NEWSQA_AUTH].")
@click.option("--llm", help="llamacpp | llamacpp:/path.gguf | openai:<model> [NEWSQA_LLM].")
@click.option("--llm-base-url", help="OpenAI-compatible server URL [OPENAI_BASE_URL].")
@click.option("--mode", type=click.Choice(["extractive", "generative"]), help="Answer mode [NEWSQA_MODE].")
@click.option("--seeds", type=click.Path(), help="Articles to ingest when the index is empty [NEWSQA_SEEDS].")
@common
def serve(host: str | None, port: int | None, auth: str | None, llm: str | None, llm_base_url: str | None,
          mode: str | None, seeds: str | None, data_dir: str | None, chroma_url: str | None) -> None:
    """Serve the chat page (ingests the sample articles into an empty index first)."""
    from .ui import launch

    with _friendly_errors():
        settings = Settings.load(
            data_dir=data_dir, chroma_url=chroma_url, host=host, port=port, auth=auth, llm=llm,
            llm_base_url=llm_base_url, mode=mode, seeds=seeds,
        )
        qa = NewsQA(settings=settings)
        launch(qa)


@main.command("eval")
@click.option("--corpus", required=True, type=click.Path(exists=True, dir_okay=False), help="Articles (JSON Lines, shared eval schema).")
@click.option("--questions", required=True, type=click.Path(exists=True, dir_okay=False), help="Questions (JSON Lines, shared eval schema).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Index folder [default: DATA_DIR/eval/<corpus>, reused between runs].")
@click.option("--chroma-url", help="Chroma server, e.g. http://127.0.0.1:8000 [NEWSQA_CHROMA_URL].")
@click.option("--retrieval-only", is_flag=True, help="Measure retrieval only (no answers).")
@click.option("--with-choices", is_flag=True, help="Append the choices to the question, as a user would type them.")
@click.option("--k", default=10, show_default=True, help="Passages retrieved per question for the retrieval figures.")
@click.option("--limit", type=int, help="Only the first N questions (quick runs).")
@click.option("--mode", type=click.Choice(["extractive", "generative"]), help="Answer mode [NEWSQA_MODE].")
@click.option("--llm", help="llamacpp | llamacpp:/path.gguf | openai:<model> [NEWSQA_LLM].")
@click.option("--llm-base-url", help="OpenAI-compatible server URL [OPENAI_BASE_URL].")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the full report (with per-question records) as JSON here.")
def eval_(corpus: str, questions: str, data_dir: str | None, chroma_url: str | None, retrieval_only: bool,
          with_choices: bool, k: int, limit: int | None, mode: str | None, llm: str | None,
          llm_base_url: str | None, out: str | None) -> None:
    """Measure retrieval, answers, citations and speed on an evaluation set (../shared/eval schema)."""
    from .evaluation import corpus_data_dir, format_table, run_eval

    with _friendly_errors():
        if data_dir is None and chroma_url is None:
            data_dir = str(corpus_data_dir(Settings.load().data_dir, corpus))
        qa = _open(data_dir, chroma_url, llm=llm, llm_base_url=llm_base_url)
        report = run_eval(qa, corpus, questions, retrieval_only=retrieval_only, with_choices_text=with_choices,
                          k=k, limit=limit, mode=mode)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(report, f, ensure_ascii=False, indent=1)
    click.echo(format_table(report))


if __name__ == "__main__":  # pragma: no cover
    main()

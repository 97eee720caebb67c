"""One port for everything `newsqa serve` offers: the chat page and the OpenAI-compatible API.

A FastAPI app holds the /v1 routes (app/openai_api.py) and mounts the Gradio page at "/";
uvicorn serves both. The page's login (`--auth`) guards the page and its Gradio endpoints only;
the API has its own key (NEWSQA_API_KEY).
"""

from __future__ import annotations

from typing import Any

from .core import NewsQA


def create_server(demo: Any, qa: NewsQA, **page: Any) -> Any:
    """The FastAPI app serving the API under /v1 and the page `demo` at "/".

    Args:
        demo: the Gradio Blocks (queued as it should run).
        qa: the NewsQA the API asks.
        **page: gradio.mount_gradio_app's page settings (auth, css, head, show_error, max_file_size, ...).
    """
    import gradio as gr
    from fastapi import FastAPI

    from .openai_api import api_router

    # No generated API docs: the page's Gradio API has its own, and /v1 follows OpenAI's.
    app = FastAPI(title="newsqa", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(api_router(qa, qa.settings.api_key))  # before the page, so /v1 is ours
    return gr.mount_gradio_app(app, demo, path="/", server_name=qa.settings.host, server_port=qa.settings.port, **page)


def serve(demo: Any, qa: NewsQA, **page: Any) -> None:
    """Serve the page and the API on the settings' host and port until stopped (Ctrl-C, SIGTERM)."""
    import uvicorn

    settings = qa.settings
    app = create_server(demo, qa, **page)
    base = f"http://{settings.host}:{settings.port}"
    key = "requires Authorization: Bearer $NEWSQA_API_KEY" if settings.api_key else "open: set NEWSQA_API_KEY to require a key"
    print(f"newsqa: the chat on {base}/ and the OpenAI-compatible API on {base}/v1 ({key})", flush=True)
    # A short grace period on shutdown: the page keeps event streams open that never end by themselves.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", timeout_graceful_shutdown=5)

"""End to end in a real browser: `newsqa serve` in a subprocess, Debian's chromium driven by Playwright.

One server (with a login, a fresh data directory that it fills from seeds/, and a 1 MB upload
limit) and one browser serve every test here. The screenshot in the README is taken by
`test_seed_question_streams_with_a_source_card`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# The README's picture; the test takes it again only when asked to (NEWSQA_SCREENSHOT=1), so a
# test run leaves the checkout as it was.
SCREENSHOT = ROOT / "docs" / "screenshot.png"
USER, PASSWORD = "reporter", "night-desk-42"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]
WAIT_MS = 90_000  # a busy 2-core machine; answers normally take 1-3 s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`newsqa serve` on a free port over an empty data directory (it ingests seeds/ first)."""
    data = tmp_path_factory.mktemp("browser-data")
    log_path = data.parent / "serve.log"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    env.update(NEWSQA_DATA_DIR=str(data), NEWSQA_AUTH=f"{USER}:{PASSWORD}", NEWSQA_MAX_UPLOAD_MB="1",
               GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                pytest.fail(f"newsqa serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"newsqa serve did not answer on {url}:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed for the browser tests: apt-get install chromium (.ci/run does)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _log_in(page, url: str, password: str = PASSWORD) -> None:
    page.goto(url)
    page.locator('input[data-testid="textbox"]').fill(USER)
    page.locator('input[type="password"]').fill(password)
    page.get_by_role("button", name="Login").click()


@pytest.fixture(scope="module")
def context(browser, server):
    """A logged-in browser session shared by the tests (pages are opened per test)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    # The page must work offline: anything it tries to fetch from elsewhere is refused and recorded.
    ctx.outside = []

    def refuse(route) -> None:
        ctx.outside.append(route.request.url)
        route.abort()

    ctx.route(re.compile(r"^(?!http://127\.0\.0\.1[:/])[a-z]+://"), refuse)
    page = ctx.new_page()
    _log_in(page, server)
    page.locator("#newsqa-chat").wait_for(timeout=WAIT_MS)
    page.close()
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, server):
    """A fresh tab on the chat page; records any dialog (alert/confirm) the page opens."""
    p = context.new_page()
    p.dialogs = []

    def on_dialog(d) -> None:
        p.dialogs.append(d.message)
        d.dismiss()

    p.on("dialog", on_dialog)
    p.goto(server)
    p.locator("#newsqa-chat").wait_for(timeout=WAIT_MS)
    yield p
    p.close()


def _ask(page, question: str) -> None:
    box = page.locator("#newsqa-question textarea")
    box.fill(question)
    box.press("Enter")


def _last_bot_text(page) -> str:
    return page.locator('#newsqa-chat [data-testid="bot"]').last.inner_text()


def _wait_for_answer(page, turn: int) -> None:
    """Until the answer of `turn` is final (its source cards are on the page, or it said why not)."""
    page.wait_for_function(
        """turn => {
            const cards = document.querySelector(`#newsqa-sources .newsqa-sources[data-turn="${turn}"]`);
            const bots = document.querySelectorAll('#newsqa-chat [data-testid="bot"]');
            const last = bots.length >= turn ? bots[turn - 1].innerText : "";
            return cards || last.includes("⚠") || last.includes("articles don");
        }""",
        arg=turn,
        timeout=WAIT_MS,
    )


def _open_uploads(page) -> None:
    if not page.locator("#newsqa-upload").is_visible():
        page.get_by_text("Add articles").click()
    page.locator("#newsqa-upload").wait_for(timeout=WAIT_MS)


def _stats(page) -> str:
    """The index facts line (without the timer Gradio shows while refreshing it)."""
    text = page.locator("#newsqa-stats").inner_text()
    return next((line for line in text.splitlines() if "articles ·" in line), text)


def _upload(page, path: Path) -> str:
    _open_uploads(page)
    page.locator("#newsqa-upload input[type=file]").set_input_files(str(path))
    report = page.locator("#newsqa-report")
    report.get_by_text("The index now holds").wait_for(timeout=WAIT_MS)
    return report.inner_text()


def test_the_page_asks_for_a_login(browser, server):
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        page.goto(server)
        page.get_by_role("button", name="Login").wait_for(timeout=WAIT_MS)
        assert page.locator("#newsqa-chat").count() == 0
        _log_in(page, server, password="wrong")
        page.get_by_text("Incorrect Credentials").wait_for(timeout=WAIT_MS)
        assert page.locator("#newsqa-chat").count() == 0
        _log_in(page, server)
        page.locator("#newsqa-chat").wait_for(timeout=WAIT_MS)
        page.locator("#newsqa-stats").get_by_text("articles ·").wait_for(timeout=WAIT_MS)
    finally:
        ctx.close()


def test_seed_question_streams_with_a_source_card(page):
    # Record every state of the assistant's bubble, to see the answer arrive in steps.
    page.evaluate(
        """() => {
            window.__bot = [];
            const chat = document.querySelector('#newsqa-chat');
            new MutationObserver(() => {
                const bots = chat.querySelectorAll('[data-testid="bot"]');
                if (bots.length) window.__bot.push(bots[bots.length - 1].innerText);
            }).observe(chat, {subtree: true, childList: true, characterData: true});
        }"""
    )
    _ask(page, "Who controls Deir Ezzor?")
    _wait_for_answer(page, 1)
    card = page.locator("#newsqa-sources .newsqa-card").filter(has_text="The militants control less than half the city")
    assert card.count() == 1
    assert card.locator("mark").inner_text().startswith("The militants control less than half the city")
    assert "date unknown" in card.locator(".newsqa-meta").inner_text()
    answer = _last_bot_text(page)
    assert "The militants control less than half the city" in answer
    page.mouse.move(0, 0)
    shot = page.screenshot(path=str(SCREENSHOT)) if os.environ.get("NEWSQA_SCREENSHOT") == "1" else page.screenshot()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    states = page.evaluate("window.__bot")
    assert any("Searching the articles" in s for s in states), states
    assert states.index(next(s for s in states if "Searching" in s)) < len(states) - 1
    # The [n] marker leads to its card.
    n = card.get_attribute("id").rsplit("-", 1)[1]
    page.locator(f'#newsqa-chat a[href="#source-1-{n}"]').first.click()
    page.locator(f"#source-1-{n}.newsqa-flash").wait_for(timeout=5000)
    assert "#source" not in page.url  # the page did not navigate away
    # A follow-up uses the conversation, through Gradio's own history format.
    _ask(page, "And who is advancing from the east?")
    _wait_for_answer(page, 2)
    assert "US-backed Syrian forces are meanwhile advancing" in _last_bot_text(page)
    # The first answer's markers still lead to its cards, now folded below the new ones.
    assert page.locator(f"#source-1-{n}").is_hidden()
    page.locator(f'#newsqa-chat a[href="#source-1-{n}"]').first.click()
    page.locator(f"#source-1-{n}.newsqa-flash").wait_for(timeout=5000)
    assert page.locator(f"#source-1-{n}").is_visible()
    assert page.dialogs == []


def test_upload_an_article_and_ask_about_it(page, tmp_path):
    page.locator("#newsqa-stats").get_by_text("articles ·").wait_for(timeout=WAIT_MS)
    before = _stats(page)
    article = tmp_path / "lighthouse vote.md"
    article.write_text(
        "---\nsource: Harbour Gazette\ndate: 2024-02-13\n---\n# Port Vellan rebuilds its lighthouse\n\n"
        "The council of Port Vellan voted 7 to 2 on Tuesday to rebuild the Kestrel Point lighthouse. "
        "The old tower was destroyed by a storm in 2019.\n",
        encoding="utf-8",
    )
    # Over the upload limit (NEWSQA_MAX_UPLOAD_MB=1 here): refused with a message, nothing ingested.
    big = tmp_path / "archive dump.txt"
    big.write_text("word " * 250_000, encoding="utf-8")
    _open_uploads(page)
    page.locator("#newsqa-upload input[type=file]").set_input_files(str(big))
    page.get_by_text("exceed the maximum allowed size").first.wait_for(timeout=WAIT_MS)
    assert _stats(page) == before
    report = _upload(page, article)
    assert "Added 1" in report, report
    page.locator("#newsqa-stats").get_by_text("Harbour Gazette").wait_for(timeout=WAIT_MS)
    after = _stats(page)
    assert after != before and "2024-02-13" in after
    _ask(page, "How did the Port Vellan council vote on the Kestrel Point lighthouse?")
    _wait_for_answer(page, 1)
    assert "voted 7 to 2" in _last_bot_text(page)
    card = page.locator("#newsqa-sources .newsqa-card").first
    assert "Port Vellan rebuilds its lighthouse" in card.inner_text()
    assert "Harbour Gazette · 2024-02-13" in card.locator(".newsqa-meta").inner_text()
    # The outlet filter offers the new outlet.
    page.get_by_text("Filters for the next question").click()
    page.locator("#newsqa-outlets input").click()
    page.get_by_role("option", name="Harbour Gazette").wait_for(timeout=WAIT_MS)


def test_script_in_a_title_is_shown_as_text(page, tmp_path):
    article = tmp_path / "canal.md"
    article.write_text(
        "# <script>alert(1)</script>\n\n"
        "The Zephyr canal will reopen to barges in March after the lock gates were replaced. "
        'Officials said <img src=x onerror="alert(2)"> was painted on the old gate.\n',
        encoding="utf-8",
    )
    assert "Added 1" in _upload(page, article)
    _ask(page, "When will the Zephyr canal reopen to barges?")
    _wait_for_answer(page, 1)
    card = page.locator("#newsqa-sources .newsqa-card").filter(has_text="Zephyr canal")
    assert card.locator(".newsqa-card-title").inner_text() == "[1] <script>alert(1)</script>"
    assert '<img src=x onerror="alert(2)">' in card.inner_text()
    assert page.locator("#newsqa-sources script, #newsqa-sources img, #newsqa-chat img[src=x]").count() == 0
    assert page.dialogs == []


def test_two_people_at_once_keep_their_own_chats(context, server):
    pages = [context.new_page() for _ in range(2)]
    questions = ["Who controls Deir Ezzor?", "How long was the ISIS siege of Deir Ezzor?"]
    try:
        for p in pages:
            p.goto(server)
            p.locator("#newsqa-chat").wait_for(timeout=WAIT_MS)
        for p, q in zip(pages, questions):
            _ask(p, q)
        for p in pages:
            _wait_for_answer(p, 1)
        for p, q in zip(pages, questions):
            users = p.locator('#newsqa-chat [data-testid="user"]').all_inner_texts()
            assert users == [q]
        assert "less than half the city" in _last_bot_text(pages[0])
        assert "three-year ISIS siege" in _last_bot_text(pages[1])
        assert context.outside == []  # nothing was fetched from outside this machine
    finally:
        for p in pages:
            p.close()

"""Shared by the browser tests (tests/dashboard/test_browser.py on the sandbox, tests/saleor on Saleor).

- `DjangoServer`: this process's Django app (the sandbox's or Saleor's URLs) on a local
  port, in threads, on the test database;
- `static_server`: the folder with `harness.html` (the Dashboard's side of the AppBridge)
  on another origin, as the Dashboard is;
- `launch_chromium`: the OS's Chromium (Debian's `chromium`) through Playwright's Python
  package; Playwright's own browsers are never downloaded;
- `Tab`: one browser tab on the harness, collecting the console's errors.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import tempfile
import threading
from pathlib import Path
from urllib.parse import quote, urlsplit

CHROMIUM = os.environ.get("LIFECYCLE_CHROMIUM", "/usr/bin/chromium")
HERE = Path(__file__).parent
#: Where the pages' screenshots go: the README's docs/screenshots when asked for
#: (LIFECYCLE_SCREENSHOTS=1), else a scratch folder, so a test run leaves the tree clean.
SCREENSHOTS = (HERE.parent.parent / "docs" / "screenshots" if os.environ.get("LIFECYCLE_SCREENSHOTS")
               else Path(tempfile.gettempdir()) / "lifecycle-screenshots")


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None. Under CI a missing browser is an error."""
    try:
        import playwright.sync_api  # noqa: F401  (only whether it imports)
    except ImportError:
        reason = "Playwright's Python package is not installed (the test extra has it)"
    else:
        reason = None if Path(CHROMIUM).exists() else f"{CHROMIUM} is not installed (apt-get install chromium)"
    if reason and os.environ.get("CI"):
        raise RuntimeError(reason + "; .ci/run installs Debian's chromium package")
    return reason


class DjangoServer:
    """Not pytest-django's live_server, which makes every test transactional (and flushes its data)."""

    def __init__(self):
        from django.core.handlers.wsgi import WSGIHandler
        from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
        from django.db import connections

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args):
                pass

        django_app = WSGIHandler()

        def app(environ, start_response):
            try:
                return django_app(environ, start_response)
            finally:
                connections.close_all()  # the test database is dropped at the end; leave no session open

        self.httpd = ThreadedWSGIServer(("localhost", 0), Quiet)
        self.httpd.set_app(app)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://localhost:{self.httpd.server_port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def static_server() -> tuple[http.server.ThreadingHTTPServer, str]:
    """tests/dashboard/ on 127.0.0.1 (another origin than the pages' localhost)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietFiles, directory=str(HERE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


@contextlib.contextmanager
def launch_chromium():
    """Playwright's sync API runs an asyncio loop in this thread; Django's ORM, used between
    browser steps to read the rows independently, refuses that unless told.

    While that loop runs, asgiref keeps this thread's database connections per asyncio
    context, so the reads between browser steps open a connection of their own that the
    test runner's teardown never sees (it would find the test database still in use when
    dropping it); it is closed here, before the loop stops."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                yield browser
            finally:
                connections.close_all()
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _served_elsewhere(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in ("127.0.0.1", "localhost", "::1")


class Tab:
    """One browser tab showing the harness, which frames a page below `pages_url`."""

    def __init__(self, browser, pages_url: str, dashboard: str, intruder: str = ""):
        self.context = browser.new_context(viewport={"width": 1280, "height": 1100}, locale="en-US")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        #: Requests for anything not served on this machine: the pages must load nothing from outside
        #: the package (no CDN, no font or script host), so this stays empty.
        self.outside: list[str] = []
        self.context.on("request", lambda request: _served_elsewhere(request.url) and self.outside.append(request.url))
        self.pages_url = pages_url
        self.dashboard = dashboard
        self.intruder = intruder

    def open(self, page: str, token: str | None, *, theme: str = "light", query: str = "", intruder_token: str = ""):
        src = f"{self.pages_url}{page}/" + (f"?{query}" if query else "")
        url = f"{self.dashboard}/harness.html?src={quote(src, safe='')}&theme={theme}"
        if token is not None:
            url += f"&token={quote(token, safe='')}"
        if intruder_token:
            url += "&intruder=" + quote(f"{self.intruder}/intruder.html?token={quote(intruder_token, safe='')}", safe="")
        self.page.goto(url)
        handle = self.page.wait_for_selector("iframe#app")
        frame = handle.content_frame()
        frame.wait_for_load_state()
        return frame

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.locator("iframe#app").screenshot(path=str(SCREENSHOTS / f"{name}.png"))

    def close(self) -> list[str]:
        errors = list(self.errors)
        self.context.close()
        return errors


# The pages' CSP forbids eval, so waits go through locators (Playwright's wait_for_function evaluates a string).
def wait_status(frame, text: str = "loaded", timeout: int = 20000) -> None:
    from playwright.sync_api import expect

    expect(frame.locator("#status")).to_contain_text(re.compile(re.escape(text), re.IGNORECASE), timeout=timeout)


def wait_error(frame, timeout: int = 20000) -> None:
    from playwright.sync_api import expect

    expect(frame.locator("#status")).to_have_class("error", timeout=timeout)

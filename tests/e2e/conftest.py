"""Browser tests: a real kefu process (``kefu demo --no-simulate`` in a temporary folder) and Debian's Chromium
driven by Playwright. Never a browser download: the browser is /usr/bin/chromium (``.ci/run`` installs it).

They run in the SQLite pass only (the browser does not care which database the server uses) and fail
loudly when the front end was not built (``tools/install-python`` builds it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from kefu.web import STATIC_DIR, built
from tests.conftest import BACKEND
from tests.helpers_server import KefuProcess, free_port

CHROMIUM = os.environ.get("KEFU_E2E_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "e2e-screenshots"
DEMO_PASSWORD = "kefu-demo-2026"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}

#: Every test module here carries this mark.
SQLITE_ONLY = pytest.mark.skipif(BACKEND != "sqlite", reason="browser tests run in the SQLite pass only")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Per module, not per session: Playwright's sync API keeps an event loop running on the main thread
    # while it is open, and the suite's later tests call asyncio.run().
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)")
    if not built():
        pytest.fail(
            f"the web front end is not built in {STATIC_DIR}: run tools/install-python (npm ci && npm run build)"
        )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield b
        b.close()


class Server:
    """``kefu demo`` in its own folder; ``restart`` keeps the folder and the port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        var = root / "var"
        self.env = {
            "KEFU_VAR_DIR": str(var),
            "KEFU_DATABASE_URL": f"sqlite:///{var / 'kefu.db'}",
            "KEFU_REDIS_URL": "",
            "KEFU_LOG_JSON": "false",
        }
        self.proc: KefuProcess | None = None

    def start(self) -> None:
        self.proc = KefuProcess(["demo", "--no-simulate"], self.env, self.root, self.port)
        self.proc.wait_healthy(timeout=90)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @contextmanager
    def admin(self, username: str = "admin") -> Iterator[httpx.Client]:
        with httpx.Client(base_url=self.base, timeout=10) as http:
            resp = http.post(
                "/api/v1/auth/login", json={"tenant": "demo", "username": username, "password": DEMO_PASSWORD}
            )
            resp.raise_for_status()
            http.headers["X-CSRF-Token"] = resp.json()["csrf_token"]
            yield http


def start_server(root: Path) -> Server:
    server = Server(root)
    server.start()
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("kefu-e2e"))
    try:
        yield s
    finally:
        s.stop()


def grab_setup(server: Server, *, bot: bool = True) -> dict[str, Any]:
    """The demo web channel sends visitors to the broadcast-grab group 售后 (the bot answers first if asked)."""
    with server.admin() as http:
        groups = {g["name"]: g for g in http.get("/api/v1/skill-groups").json()["items"]}
        channel = next(c for c in http.get("/api/v1/channels").json()["items"] if c["kind"] == "web")
        http.patch(
            f"/api/v1/channels/{channel['id']}",
            json={
                "default_skill_group_id": groups["售后"]["id"],
                "config": {"bot_enabled": bot, "title": "演示商城客服", "colour": "#1677ff"},
            },
        ).raise_for_status()
        return {"widget_key": channel["widget_key"], "group_id": groups["售后"]["id"]}


class Watch:
    """Collects what must not happen in a page: JavaScript dialogs, page errors, missing translations."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []

    def attach(self, page: Any) -> Any:
        def on_dialog(d: Any) -> None:
            self.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on(
            "console",
            lambda m: self.errors.append(m.text) if "[intlify]" in m.text and "Not found" in m.text else None,
        )
        return page


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def login(page: Any, base: str, path: str, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{base}{path}")
    page.get_by_test_id("login-tenant").fill("demo")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


@pytest.fixture
def watch() -> Watch:
    return Watch()


Expect = Callable[..., Any]


@pytest.fixture
def expect() -> Expect:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect

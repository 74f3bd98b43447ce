"""The server restarts (same data folder, same port) in the middle of a conversation: the widget and the
workspace reconnect by themselves, a message typed while the server was down is delivered once, and
nothing said before or after is lost on either side."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SQLITE_ONLY, Server, Watch, grab_setup, shot, start_server
from tests.e2e.test_story import open_widget, open_workspace, visitor_says

pytestmark = SQLITE_ONLY


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    s = start_server(tmp_path)
    try:
        yield s
    finally:
        s.stop()


def test_both_sides_reconnect_after_a_server_restart_and_lose_nothing(
    browser: Any, own_server: Server, watch: Watch, expect: Any
) -> None:
    server = own_server
    grab_setup(server, bot=False)  # no bot: the first message goes straight to the queue, and only people talk
    agent_ctx, agent = open_workspace(browser, server, watch)
    visitor_ctx, visitor, widget = open_widget(browser, server, watch, "reconnect")
    visitor_says(widget, "重启前的问题")
    expect(widget.get_by_test_id("widget-queue")).to_be_visible()
    agent.get_by_test_id("tab-offers").click()
    agent.get_by_test_id("ws-grab").first.click()
    expect(agent.get_by_test_id("ws-messages")).to_contain_text("重启前的问题")
    agent.get_by_test_id("ws-input").fill("重启前的回复")
    agent.get_by_test_id("ws-input").press("Enter")
    expect(widget.locator("[data-sender=agent]").last).to_contain_text("重启前的回复")

    server.stop()
    expect(widget.get_by_test_id("widget-status")).to_contain_text("连接中")
    expect(agent.get_by_test_id("ws-connection")).to_be_visible()
    visitor_says(widget, "断线时写的消息")
    shot(visitor, "reconnect-widget-phone-offline")
    shot(agent, "reconnect-workspace-offline")

    server.start()
    expect(widget.get_by_test_id("widget-status")).to_contain_text("为您服务", timeout=30_000)
    expect(agent.get_by_test_id("ws-connection")).to_be_hidden(timeout=30_000)
    expect(agent.get_by_test_id("ws-messages")).to_contain_text("断线时写的消息", timeout=15_000)
    visitor_says(widget, "重启后的消息")
    expect(agent.get_by_test_id("ws-messages")).to_contain_text("重启后的消息")
    agent.get_by_test_id("ws-input").fill("重启后的回复")
    agent.get_by_test_id("ws-input").press("Enter")
    expect(widget.locator("[data-sender=agent]").last).to_contain_text("重启后的回复")
    shot(agent, "reconnect-workspace-after")
    shot(visitor, "reconnect-widget-phone-after")

    expected = ["重启前的问题", "重启前的回复", "断线时写的消息", "重启后的消息", "重启后的回复"]
    assert [m.inner_text() for m in widget.get_by_test_id("widget-message").all()] == expected
    with server.admin() as http:
        conv = http.get("/api/v1/conversations", params={"status": "active"}).json()["items"][0]
        stored = http.get(f"/api/v1/conversations/{conv['id']}/messages").json()["messages"]
        assert [m["body"] for m in stored] == expected
        assert [m["seq"] for m in stored] == [1, 2, 3, 4, 5]
    assert not watch.dialogs and not watch.errors, (watch.dialogs, watch.errors)
    visitor_ctx.close()
    agent_ctx.close()

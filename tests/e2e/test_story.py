"""The whole story in two browsers: a visitor on a phone asks a question and asks for a person; an agent grabs
the conversation in the workspace; they talk; the agent ends it; the visitor rates it; the rating is stored.
Then: a failed login says why, markup in a message stays text, the admin edits a skill group, and a
supervisor's console shows only what he may use."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import DESKTOP, PHONE, SQLITE_ONLY, Server, Watch, grab_setup, login, shot

pytestmark = SQLITE_ONLY
XSS = "<img src=x onerror=alert(1)>"


def open_widget(browser: Any, server: Server, watch: Watch, name: str) -> tuple[Any, Any, Any]:
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN")
    page = watch.attach(ctx.new_page())
    page.goto(f"{server.base}/demo-shop")
    page.locator("#kefu-widget button.btn").click()
    frame = page.frame_locator("#kefu-widget iframe")
    frame.get_by_test_id("widget-greeting").wait_for()
    shot(page, f"{name}-widget-phone-open")
    return ctx, page, frame


def open_workspace(browser: Any, server: Server, watch: Watch, username: str = "hq_agent1") -> tuple[Any, Any]:
    ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = watch.attach(ctx.new_page())
    login(page, server.base, "/workspace/", username)
    page.get_by_test_id("ws-status").wait_for()
    return ctx, page


def visitor_says(frame: Any, text: str) -> None:
    frame.get_by_test_id("widget-input").fill(text)
    frame.get_by_test_id("widget-send").click()


def test_visitor_to_agent_and_back_with_a_rating(browser: Any, server: Server, watch: Watch, expect: Any) -> None:
    setup = grab_setup(server)
    agent_ctx, agent = open_workspace(browser, server, watch)
    expect(agent.get_by_test_id("ws-status")).to_contain_text("在线")
    shot(agent, "story-1-workspace-empty")

    landing = browser.new_page(viewport=DESKTOP)
    landing.goto(server.base + "/")
    expect(landing.get_by_test_id("demo-logins")).to_contain_text("hq_agent1")
    shot(landing, "story-0-landing")
    landing.close()

    visitor_ctx, visitor, widget = open_widget(browser, server, watch, "story-2")
    visitor_says(widget, "你好，我买的耳机还没发货")
    expect(widget.locator("[data-sender=visitor]").last).to_contain_text("耳机还没发货")
    widget.get_by_test_id("widget-human").click()
    expect(widget.get_by_test_id("widget-queue")).to_be_visible()
    shot(visitor, "story-3-widget-phone-queued")

    agent.get_by_test_id("tab-offers").click()
    offer = agent.get_by_test_id("ws-offer").first
    expect(offer).to_be_visible()
    shot(agent, "story-4-workspace-offer")
    offer.get_by_test_id("ws-grab").click()
    expect(agent.get_by_test_id("ws-messages")).to_contain_text("耳机还没发货")

    agent.get_by_test_id("ws-input").fill("您好，请提供一下订单号，我帮您查询物流。")
    agent.get_by_test_id("ws-input").press("Enter")
    expect(widget.locator("[data-sender=agent]").last).to_contain_text("请提供一下订单号")
    expect(widget.get_by_test_id("widget-status")).to_contain_text("为您服务")
    visitor_says(widget, "订单号 2026111100123")
    expect(agent.get_by_test_id("ws-messages")).to_contain_text("2026111100123")
    shot(agent, "story-5-workspace-chat")
    shot(visitor, "story-5-widget-phone-chat")

    agent.get_by_test_id("ws-end").click()
    agent.locator(".el-message-box__btns .el-button--primary").click()
    expect(agent.get_by_test_id("ws-ended")).to_be_visible()

    expect(widget.get_by_test_id("widget-rating")).to_be_visible()
    widget.get_by_test_id("widget-star-5").click()
    widget.get_by_test_id("widget-rating-comment").fill("很满意，回复很快")
    shot(visitor, "story-6-widget-phone-rating")
    widget.get_by_test_id("widget-rating-submit").click()
    expect(widget.get_by_test_id("widget-rated")).to_be_visible()
    shot(visitor, "story-7-widget-phone-rated")

    with server.admin() as http:
        convs = http.get("/api/v1/conversations", params={"skill_group_id": setup["group_id"]}).json()["items"]
        rated = [c for c in convs if c["rating"] is not None]
        assert len(rated) == 1, convs
        assert rated[0]["rating"] == 5 and rated[0]["rating_comment"] == "很满意，回复很快"
        assert rated[0]["ended_by"] == "agent"
    assert not watch.dialogs and not watch.errors, (watch.dialogs, watch.errors)
    visitor_ctx.close()
    agent_ctx.close()


def test_markup_in_a_message_is_shown_as_text(browser: Any, server: Server, watch: Watch, expect: Any) -> None:
    grab_setup(server)
    agent_ctx, agent = open_workspace(browser, server, watch)
    visitor_ctx, visitor, widget = open_widget(browser, server, watch, "xss")
    visitor_says(widget, XSS)
    expect(widget.locator("[data-sender=visitor]").last).to_have_text(XSS)
    widget.get_by_test_id("widget-human").click()
    agent.get_by_test_id("tab-offers").click()
    agent.get_by_test_id("ws-grab").first.click()
    messages = agent.get_by_test_id("ws-messages")
    expect(messages.get_by_test_id("ws-message").first).to_have_text(XSS)
    agent.get_by_test_id("ws-input").fill(f"收到：{XSS}")
    agent.get_by_test_id("ws-send").click()
    expect(widget.locator("[data-sender=agent]").last.get_by_test_id("widget-message")).to_have_text(f"收到：{XSS}")
    # No element was made from the text, and nothing ran.
    assert messages.locator("img[src=x]").count() == 0
    assert widget.locator("img[src=x]").count() == 0
    shot(agent, "xss-workspace")
    shot(visitor, "xss-widget-phone")
    assert not watch.dialogs, watch.dialogs
    assert not watch.errors, watch.errors
    visitor_ctx.close()
    agent_ctx.close()


def test_a_failed_login_says_why(browser: Any, server: Server, watch: Watch, expect: Any) -> None:
    ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = watch.attach(ctx.new_page())
    login(page, server.base, "/workspace/", "hq_agent1", password="wrong-password")
    expect(page.get_by_test_id("login-error")).to_contain_text("企业标识、用户名或密码错误")
    shot(page, "login-failed")
    assert page.get_by_test_id("ws-status").count() == 0
    ctx.close()
    assert not watch.errors, watch.errors


def test_the_admin_edits_a_skill_group(browser: Any, server: Server, watch: Watch, expect: Any) -> None:
    ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = watch.attach(ctx.new_page())
    login(page, server.base, "/admin/", "admin")
    expect(page.get_by_test_id("admin-overview")).to_be_visible()
    page.wait_for_timeout(600)  # the charts animate in
    shot(page, "admin-1-overview")
    for key, testid, ready, name in (
        ("teams", "admin-teams", ".el-tree-node", "admin-2-teams"),
        ("users", "admin-users", ".el-table__row", "admin-3-users"),
        ("widget", "admin-widget", "[data-testid=widget-snippet]", "admin-5-widget"),
        ("tokens", "admin-tokens", ".el-table__header", "admin-6-tokens"),
    ):
        page.get_by_test_id(f"menu-{key}").click()
        expect(page.get_by_test_id(testid)).to_be_visible()
        expect(page.locator(ready).first).to_be_visible()
        shot(page, name)
    if page.get_by_test_id("menu-kb").count():
        page.get_by_test_id("menu-kb").click()
        expect(page.get_by_test_id("admin-kb")).to_be_visible()
        page.wait_for_timeout(500)
        shot(page, "admin-7-knowledge-base")
    expect(page.get_by_test_id("admin-widget")).to_have_count(0)

    page.get_by_test_id("menu-skillGroups").click()
    expect(page.get_by_test_id("admin-groups")).to_be_visible()
    shot(page, "admin-4-skill-groups")
    page.get_by_test_id("group-edit-技术支持").click()
    dialog = page.locator(".el-dialog").filter(has=page.get_by_test_id("group-save"))
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("mode-broadcast_grab").click()
    dialog.get_by_test_id("group-overflow-after").locator("input").fill("90")
    shot(page, "admin-4-skill-group-edit")
    dialog.get_by_test_id("group-save").click()
    expect(dialog).to_be_hidden()
    row = page.locator(".el-table__row").filter(has_text="技术支持")
    expect(row.get_by_test_id("group-mode")).to_have_text("广播抢单")
    with server.admin() as http:
        group = next(g for g in http.get("/api/v1/skill-groups").json()["items"] if g["name"] == "技术支持")
        assert group["mode"] == "broadcast_grab" and group["overflow_after_s"] == 90
    ctx.close()
    assert not watch.dialogs and not watch.errors, (watch.dialogs, watch.errors)


def test_a_supervisor_sees_only_his_menus(browser: Any, server: Server, watch: Watch, expect: Any) -> None:
    ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = watch.attach(ctx.new_page())
    login(page, server.base, "/admin/", "sup_east")
    expect(page.get_by_test_id("menu-teams")).to_be_visible()
    assert page.get_by_test_id("menu-widget").count() == 0
    assert page.get_by_test_id("menu-tokens").count() == 0
    page.get_by_test_id("menu-teams").click()
    expect(page.locator(".el-tree-node").first).to_contain_text("华东大区")
    assert page.locator(".el-tree-node").filter(has_text="华南大区").count() == 0
    shot(page, "admin-supervisor-teams")
    ctx.close()
    assert not watch.errors, watch.errors

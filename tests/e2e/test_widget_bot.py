"""The bot in the widget (docs/protocol.md, the bot section): an answer from the demo knowledge base with 👍/👎,
"did you mean" chips for a vague question, and the bot's messages in the agent's history with agent assist.
And a visitor's image reaching the agent."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

from tests.e2e.conftest import SQLITE_ONLY, Server, Watch, grab_setup, shot
from tests.e2e.test_knowledge_base import open_console
from tests.e2e.test_story import open_widget, open_workspace, visitor_says

pytestmark = SQLITE_ONLY


def png(width: int = 96, height: int = 64) -> bytes:
    """A small real PNG (a colour gradient), made here so the test needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(
        b"\0" + b"".join(bytes((x * 255 // width, y * 255 // height, 200)) for x in range(width)) for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def last_bot(widget: Any) -> Any:
    return widget.locator("[data-sender=bot]").last


def test_the_bot_answers_suggests_and_takes_feedback(browser: Any, server: Server, watch: Watch, expect: Any) -> None:
    grab_setup(server, bot=True)
    visitor_ctx, visitor, widget = open_widget(browser, server, watch, "bot")

    visitor_says(widget, "你好，在吗？")  # small talk gets a reply of its kind, not "not understood"
    expect(last_bot(widget)).to_contain_text("在的，请问有什么可以帮您")
    visitor_says(widget, "怎么下单")
    answer = last_bot(widget)
    expect(answer.get_by_test_id("widget-answer")).to_contain_text("立即购买")
    expect(answer.get_by_test_id("widget-helpful")).to_be_visible()
    expect(answer.get_by_test_id("widget-unhelpful")).to_be_visible()
    shot(visitor, "bot-1-widget-phone-answer")
    answer.get_by_test_id("widget-helpful").click()
    expect(answer.get_by_test_id("widget-feedback-given")).to_contain_text("有帮助")
    expect(answer.get_by_test_id("widget-helpful")).to_have_count(0)  # once per answer

    visitor_says(widget, "积分")
    chips = last_bot(widget).get_by_test_id("widget-suggestion")
    expect(chips.first).to_be_visible()
    assert chips.count() >= 2
    expect(last_bot(widget).get_by_test_id("widget-suggestions")).to_contain_text("您是不是想问")
    shot(visitor, "bot-2-widget-phone-suggestions")
    picked = chips.first.inner_text().strip()
    chips.first.click()
    expect(widget.locator("[data-sender=visitor]").last).to_contain_text(picked)
    expect(last_bot(widget).get_by_test_id("widget-answer")).to_be_visible()
    expect(last_bot(widget).get_by_test_id("widget-helpful")).to_be_visible()
    shot(visitor, "bot-3-widget-phone-picked")

    # The feedback was stored: after a reload the answer still shows it (meta.bot.feedback from sync).
    visitor.reload()  # the loader reopens the panel it had open
    widget.get_by_test_id("widget-greeting").wait_for()
    first_answer = widget.locator("[data-sender=bot]").filter(has_text="立即购买").first
    expect(first_answer.get_by_test_id("widget-feedback-given")).to_contain_text("有帮助")

    # A person takes over: the bot's messages are in the agent's history, labelled 机器人.
    agent_ctx, agent = open_workspace(browser, server, watch)
    widget.get_by_test_id("widget-human").click()
    expect(widget.get_by_test_id("widget-queue")).to_be_visible()
    agent.get_by_test_id("tab-offers").click()
    agent.get_by_test_id("ws-grab").first.click()
    history = agent.get_by_test_id("ws-messages")
    expect(history).to_contain_text("怎么下单")
    expect(history.get_by_test_id("ws-bot-label").first).to_contain_text("机器人")
    visitor_says(widget, "发票抬头可以写公司吗")
    expect(history).to_contain_text("发票抬头可以写公司吗")
    # Agent assist: answers for the visitor's latest message; a click puts the text in the reply box.
    agent.locator(".ws-right .el-tabs__item").filter(has_text="知识库").click()
    suggestion = agent.get_by_test_id("ws-kb-suggestion").first
    expect(suggestion).to_contain_text("发票")
    shot(agent, "bot-4-workspace-history-assist")
    suggestion.click()
    expect(agent.get_by_test_id("ws-input")).not_to_have_value("")
    assert (
        "发票" in agent.get_by_test_id("ws-input").input_value()
        or "抬头" in agent.get_by_test_id("ws-input").input_value()
    )
    agent.get_by_test_id("ws-kb-search").fill("退货")
    agent.get_by_test_id("ws-kb-search-go").click()
    expect(agent.get_by_test_id("ws-kb-hit").first).to_be_visible()
    shot(agent, "bot-5-workspace-kb-search")
    assert not watch.dialogs and not watch.errors, (watch.dialogs, watch.errors)
    visitor_ctx.close()
    agent_ctx.close()


def test_a_visitor_sends_an_image(browser: Any, server: Server, watch: Watch, expect: Any, tmp_path: Path) -> None:
    grab_setup(server, bot=True)
    agent_ctx, agent = open_workspace(browser, server, watch)
    visitor_ctx, visitor, widget = open_widget(browser, server, watch, "image")
    # Something the bot cannot know: it says so and offers a person right under its reply.
    visitor_says(widget, "zxqv wmtk plbr")
    hint = widget.get_by_test_id("widget-human-hint")
    expect(hint).to_be_visible()
    shot(visitor, "image-0-widget-phone-unknown")
    hint.get_by_role("button").click()
    expect(widget.get_by_test_id("widget-queue")).to_be_visible()
    expect(hint).to_have_count(0)
    visitor_says(widget, "耳机外壳有裂痕，我拍了照片")
    agent.get_by_test_id("tab-offers").click()
    agent.get_by_test_id("ws-grab").first.click()
    expect(agent.get_by_test_id("ws-messages")).to_contain_text("耳机外壳有裂痕")

    photo = tmp_path / "裂痕.png"
    photo.write_bytes(png())
    widget.get_by_test_id("widget-file").set_input_files(str(photo))
    sent = widget.locator("[data-sender=visitor]").last.locator("img.kw-image")
    expect(sent).to_be_visible()
    image = agent.get_by_test_id("ws-messages").locator("img.img").last
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 96
    shot(visitor, "image-widget-phone")
    shot(agent, "image-workspace")

    # A personal quick reply, kept by the server (/api/v1/quick-replies), sent with one click.
    agent.locator(".ws-right .el-tabs__item").filter(has_text="快捷回复").click()
    agent.get_by_test_id("quick-add").click()
    agent.get_by_test_id("quick-title").fill("收到图片")
    agent.get_by_test_id("quick-body").fill("收到您的照片了，我们马上为您登记售后。")
    agent.get_by_test_id("quick-save").click()
    reply = agent.get_by_test_id("ws-quick-reply").filter(has_text="收到图片")
    expect(reply).to_be_visible()
    shot(agent, "image-workspace-quick-replies")
    reply.click()
    expect(agent.get_by_test_id("ws-input")).to_have_value("收到您的照片了，我们马上为您登记售后。")
    agent.get_by_test_id("ws-send").click()
    expect(widget.locator("[data-sender=agent]").last).to_contain_text("马上为您登记售后")
    assert not watch.dialogs and not watch.errors, (watch.dialogs, watch.errors)
    visitor_ctx.close()
    agent_ctx.close()


def test_the_admin_sees_the_bots_figures_by_day(browser: Any, server: Server, watch: Watch, expect: Any) -> None:
    grab_setup(server, bot=True)
    visitor_ctx, _visitor, widget = open_widget(browser, server, watch, "bot")
    visitor_says(widget, "怎么下单")
    answer = last_bot(widget)
    expect(answer.get_by_test_id("widget-answer")).to_be_visible()
    answer.get_by_test_id("widget-helpful").click()
    expect(answer.get_by_test_id("widget-feedback-given")).to_be_visible()
    visitor_ctx.close()

    ctx, page = open_console(browser, server, watch)
    page.get_by_test_id("menu-botStats").click()
    stats = page.get_by_test_id("bot-stats")
    expect(stats.get_by_test_id("bot-stats-trend").locator("canvas")).to_have_count(1)
    expect(stats.get_by_test_id("bot-stats-volume").locator("canvas")).to_have_count(1)
    with server.admin() as http:  # what the screen shows is what the API counts
        total = http.get("/api/v1/bot/stats/daily", params={"days": 14}).json()["total"]
    assert total["conversations"] >= 1 and total["answered"] >= 1 and total["helpful"] >= 1
    expect(stats.get_by_test_id("bot-stats-conversations")).to_have_text(str(total["conversations"]))
    expect(stats.get_by_test_id("bot-stats-helpful_rate")).to_have_text(f"{total['helpful_rate'] * 100:.1f}%")
    page.wait_for_timeout(1200)  # the charts' animation
    shot(page, "bot-5-admin-figures")

    stats.get_by_test_id("bot-stats-range").get_by_text("近 7 天").click()
    expect(stats.get_by_test_id("bot-stats-conversations")).to_have_text(str(total["conversations"]))
    # today, by hour: today's conversations, drawn per hour of the tenant's clock
    stats.get_by_test_id("bot-stats-today").click()
    expect(stats.get_by_text("今日每小时趋势")).to_be_visible()
    with server.admin() as http:
        hourly = http.get("/api/v1/bot/stats/hourly").json()
        today = http.get("/api/v1/bot/stats/daily", params={"days": 1}).json()["days"][-1]
    assert hourly["total"]["conversations"] == today["conversations"] and len(hourly["hours"]) == 24
    expect(stats.get_by_test_id("bot-stats-conversations")).to_have_text(str(today["conversations"]))
    page.wait_for_timeout(1200)
    shot(page, "bot-6-admin-today-by-hour")
    ctx.close()
    assert not watch.dialogs and not watch.errors, (watch.dialogs, watch.errors)

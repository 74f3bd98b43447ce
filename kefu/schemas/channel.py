"""Channels (渠道). The identity secret never leaves the server except once, when it is generated."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kefu.models.channel import Channel, ChannelKind
from kefu.schemas.common import MULTI_LINE, ONE_LINE, Id, Name

WidgetTitle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=ONE_LINE)]
WidgetGreeting = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=MULTI_LINE)]
Colour = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"),
    Field(description="十六进制颜色 / hex colour, #rgb or #rrggbb", examples=["#409eff"]),
]
Position = Literal["left", "right"]

#: The widget settings an administrator may set; other keys of Channel.config (the identity secret) are
#: not settable through them.
WIDGET_KEYS = ("title", "greeting", "colour", "position", "bot_enabled", "bot_small_talk")


class WidgetConfigUpdate(BaseModel):
    """Fields left out stay; null resets a setting to the widget's default."""

    model_config = ConfigDict(extra="forbid")

    title: WidgetTitle | None = Field(None, description="窗口标题 / window title", examples=["在线客服"])
    greeting: WidgetGreeting | None = Field(
        None, description="欢迎语 / greeting", examples=["您好，请问有什么可以帮您？"]
    )
    colour: Colour | None = None
    position: Position | None = Field(None, description="按钮位置 / button position")
    bot_enabled: bool | None = Field(None, description="先由机器人接待 / a bot answers first")
    bot_small_talk: bool | None = Field(
        None,
        description="机器人回应寒暄（你好、在吗、谢谢、再见…），默认开启 / the bot answers small talk "
        "(hello, are you there, thanks, bye…); on by default",
    )


class WidgetConfigPublic(BaseModel):
    """The widget settings as stored; null: the widget's default."""

    title: str | None = None
    greeting: str | None = None
    colour: str | None = None
    position: str | None = None
    bot_enabled: bool = False
    bot_small_talk: bool = True

    @classmethod
    def of(cls, config: dict[str, Any]) -> WidgetConfigPublic:
        def text(key: str) -> str | None:
            value = config.get(key)
            return value if isinstance(value, str) else None

        return cls(
            title=text("title"),
            greeting=text("greeting"),
            colour=text("colour"),
            position=text("position"),
            bot_enabled=bool(config.get("bot_enabled")),
            bot_small_talk=config.get("bot_small_talk") is not False,
        )


class ChannelUpdate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "官网客服",
                    "default_skill_group_id": 1,
                    "config": {"title": "在线客服", "colour": "#409eff", "position": "right", "bot_enabled": True},
                },
                {"enabled": False},
            ]
        }
    )

    name: Name | None = None
    enabled: bool | None = None
    default_skill_group_id: Id | None = Field(
        None, description="新会话进入的技能组；null 表示清除 / where new conversations go; null clears it"
    )
    config: WidgetConfigUpdate | None = Field(None, description="网页插件设置 / widget settings")


class ChannelPublic(BaseModel):
    id: int
    kind: ChannelKind
    name: str
    enabled: bool
    default_skill_group_id: int | None
    widget_key: str | None = Field(description="公开的插件密钥（非网页渠道为 null）/ public widget key")
    embed_snippet: str | None = Field(
        description="嵌入网页的代码 / the script tag for the tenant's pages",
        examples=['<script src="/widget.js" data-key="k3y" async></script>'],
    )
    config: WidgetConfigPublic
    identity_secret_set: bool = Field(
        description="是否已设置身份密钥（密钥本身只在生成时返回一次）/ whether an identity secret is set "
        "(the secret itself is shown once, when generated)"
    )
    created_at: datetime

    @classmethod
    def of(cls, channel: Channel) -> ChannelPublic:
        config: dict[str, Any] = channel.config or {}
        key = channel.widget_key
        return cls(
            id=channel.id,
            kind=channel.kind,
            name=channel.name,
            enabled=channel.enabled,
            default_skill_group_id=channel.default_skill_group_id,
            widget_key=key,
            embed_snippet=embed_snippet(key) if key else None,
            config=WidgetConfigPublic.of(config),
            identity_secret_set=bool(config.get("identity_secret")),
            created_at=channel.created_at,
        )


class IdentitySecretIssued(BaseModel):
    channel_id: int
    identity_secret: str = Field(
        description="用于签名登录客户身份的密钥，只显示这一次，请妥善保存 / the secret that signs logged-in "
        "customers; shown only this once"
    )


def embed_snippet(widget_key: str) -> str:
    return f'<script src="/widget.js" data-key="{html.escape(widget_key, quote=True)}" async></script>'

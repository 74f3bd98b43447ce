"""Channels: where contacts come in. Only administrators see or change them."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.access.caller import Caller
from kefu.db.session import action
from kefu.errors import Forbidden, Invalid, Msg, not_found
from kefu.events.record import emit
from kefu.models.channel import Channel, ChannelKind
from kefu.models.skill_group import SkillGroup
from kefu.visitors.identity import new_identity_secret


class _Keep(enum.Enum):
    KEEP = enum.auto()


#: "Leave as it is" for arguments where None means "clear".
KEEP = _Keep.KEEP


def require_channel_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise Forbidden(
            Msg("只有管理员可以查看和修改渠道", "only an administrator can see and change channels"),
            code="channel.admin_only",
        )


def access_channel(db: Session, caller: Caller, channel_id: int) -> Channel:
    """A channel of the caller's tenant; administrators only. The same 404 for a missing channel and for
    one of another tenant."""
    require_channel_admin(caller)
    channel = db.scalar(select(Channel).where(Channel.id == channel_id, Channel.tenant_id == caller.tenant_id))
    if channel is None:
        raise not_found("渠道", "channel")
    return channel


@action
def do_update_channel(
    db: Session,
    caller: Caller,
    channel_id: int,
    *,
    name: str | None = None,
    enabled: bool | None = None,
    default_skill_group_id: int | _Keep | None = KEEP,
    config: dict[str, Any] | None = None,
) -> Channel:
    """An administrator sets a channel's name, whether it takes contacts, where its conversations go
    (None clears it) and its settings (merged into config; a None value removes the key).
    ``channel.updated`` names what changed, never a secret's value."""
    channel = access_channel(db, caller, channel_id)
    changed: dict[str, Any] = {}
    if default_skill_group_id is not KEEP and default_skill_group_id != channel.default_skill_group_id:
        if default_skill_group_id is not None:
            group = db.scalar(
                select(SkillGroup.id).where(
                    SkillGroup.id == default_skill_group_id, SkillGroup.tenant_id == caller.tenant_id
                )
            )
            if group is None:
                raise Invalid(
                    Msg(
                        f"技能组 {default_skill_group_id} 不存在或无权访问",
                        f"skill group {default_skill_group_id} not found",
                    ),
                    code="channel.skill_group_not_found",
                )
        changed["default_skill_group_id"] = channel.default_skill_group_id = default_skill_group_id
    if name is not None and name != channel.name:
        changed["name"] = channel.name = name
    if enabled is not None and enabled != channel.enabled:
        changed["enabled"] = channel.enabled = enabled
    if config:
        old = dict(channel.config or {})
        new = {k: v for k, v in {**old, **config}.items() if v is not None}
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if keys:
            channel.config = new  # a new dict, so the JSON column sees the change
            changed["config"] = {k: None if "secret" in k else new.get(k) for k in keys}
    if changed:
        emit(
            db,
            "channel.updated",
            tenant_id=caller.tenant_id,
            actor_id=caller.user_id,
            payload={"channel_id": channel.id, "changed": changed},
        )
    return channel


@action
def do_rotate_identity_secret(db: Session, caller: Caller, channel_id: int) -> tuple[Channel, str]:
    """A new identity secret for a web channel, replacing the old one at once (customers signed with the
    old secret are no longer recognised). The caller shows the secret once; it is never sent again."""
    channel = access_channel(db, caller, channel_id)
    if channel.kind is not ChannelKind.web:
        raise Invalid(
            Msg("只有网页渠道可以设置身份密钥", "only web-chat channels have an identity secret"),
            code="channel.not_web",
        )
    had_one = bool((channel.config or {}).get("identity_secret"))
    secret = new_identity_secret()
    channel.config = {**(channel.config or {}), "identity_secret": secret}
    emit(
        db,
        "channel.identity_secret_rotated",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        payload={"channel_id": channel.id, "replaced": had_one},
    )
    return channel, secret

"""Channels (渠道): administrators only, within their own tenant."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from kefu.actions.channels import (
    KEEP,
    access_channel,
    do_rotate_identity_secret,
    do_update_channel,
    require_channel_admin,
)
from kefu.api.deps import CallerDep, DbDep
from kefu.api.paging import PageNo, PageSize, page_of, paginate
from kefu.api.params import PathId
from kefu.models.channel import Channel
from kefu.schemas.channel import ChannelPublic, ChannelUpdate, IdentitySecretIssued
from kefu.schemas.common import Page

router = APIRouter(prefix="/channels", tags=["渠道 channels"])


@router.get("", response_model=Page[ChannelPublic], summary="渠道列表 / list channels (administrators)")
def list_channels(caller: CallerDep, db: DbDep, page: PageNo = 1, page_size: PageSize = 20) -> Page[ChannelPublic]:
    require_channel_admin(caller)
    query = select(Channel).where(Channel.tenant_id == caller.tenant_id).order_by(Channel.id)
    rows, total = paginate(db, query, page, page_size)
    return page_of([ChannelPublic.of(c) for c in rows], total, page, page_size)


@router.get("/{channel_id}", response_model=ChannelPublic, summary="渠道详情 / one channel (administrators)")
def get_channel(channel_id: PathId, caller: CallerDep, db: DbDep) -> ChannelPublic:
    return ChannelPublic.of(access_channel(db, caller, channel_id))


@router.patch(
    "/{channel_id}",
    response_model=ChannelPublic,
    summary="修改渠道 / change a channel (administrators)",
    description="未提交的字段保持不变；default_skill_group_id 为 null 表示清除；config 中的设置为 null 表示恢复默认。"
    " / Fields left out stay; a null default_skill_group_id clears it; a null widget setting resets it.",
)
def update_channel(channel_id: PathId, data: ChannelUpdate, caller: CallerDep, db: DbDep) -> ChannelPublic:
    config: dict[str, Any] | None = data.config.model_dump(exclude_unset=True) if data.config else None
    channel = do_update_channel(
        db,
        caller,
        channel_id,
        name=data.name,
        enabled=data.enabled,
        default_skill_group_id=data.default_skill_group_id
        if "default_skill_group_id" in data.model_fields_set
        else KEEP,
        config=config,
    )
    return ChannelPublic.of(channel)


@router.post(
    "/{channel_id}/identity-secret",
    response_model=IdentitySecretIssued,
    summary="生成身份密钥 / generate a new identity secret (administrators)",
    description="生成新的身份密钥并立即替换旧密钥；密钥只在本次响应中返回。"
    " / Replaces the old secret at once; the new one is returned only in this answer.",
)
def rotate_identity_secret(channel_id: PathId, caller: CallerDep, db: DbDep) -> IdentitySecretIssued:
    channel, secret = do_rotate_identity_secret(db, caller, channel_id)
    return IdentitySecretIssued(channel_id=channel.id, identity_secret=secret)

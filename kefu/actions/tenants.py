from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.access.caller import Caller
from kefu.access.scope import require_role
from kefu.auth.passwords import hash_password
from kefu.config import is_time_zone
from kefu.db.session import action
from kefu.errors import Conflict, Invalid, Msg
from kefu.events.record import emit
from kefu.models.channel import Channel, ChannelKind
from kefu.models.staff import Role, User
from kefu.models.tenant import Tenant

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class NewTenant:
    tenant: Tenant
    admin: User
    web_channel: Channel


def check_time_zone(time_zone: str) -> str:
    if not is_time_zone(time_zone):
        raise Invalid(Msg(f"未知时区：{time_zone}", f"unknown time zone: {time_zone}"), code="tenant.time_zone")
    return time_zone


@action
def do_create_tenant(
    db: Session,
    *,
    slug: str,
    name: str,
    admin_username: str,
    admin_password: str,
    admin_display_name: str = "管理员",
    time_zone: str = "Asia/Shanghai",
) -> NewTenant:
    """A tenant with its first administrator and its web-chat channel (with a public widget key)."""
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        raise Invalid(
            Msg(
                "企业标识只能包含小写字母、数字和连字符，长度 2–63，且以字母或数字开头",
                "the tenant slug must be 2–63 lowercase letters, digits or hyphens, starting with a letter or digit",
            )
        )
    if not name.strip():
        raise Invalid(Msg("企业名称不能为空", "the tenant name must not be empty"))
    if len(admin_password) < 8:
        raise Invalid(Msg("密码至少 8 位", "the password must have at least 8 characters"))
    check_time_zone(time_zone)
    if db.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict(Msg(f"企业标识 {slug} 已被使用", f"the tenant slug {slug} is taken"), code="tenant.slug_taken")

    tenant = Tenant(slug=slug, name=name.strip(), time_zone=time_zone, settings={})
    db.add(tenant)
    db.flush()
    admin = User(
        tenant_id=tenant.id,
        username=admin_username.strip(),
        display_name=admin_display_name,
        role=Role.admin,
        password_hash=hash_password(admin_password),
    )
    channel = Channel(
        tenant_id=tenant.id,
        kind=ChannelKind.web,
        name="网页客服",
        widget_key=secrets.token_urlsafe(18),
        config={},
    )
    db.add_all([admin, channel])
    db.flush()
    emit(db, "tenant.created", tenant_id=tenant.id, payload={"slug": slug, "name": tenant.name})
    emit(
        db,
        "user.created",
        tenant_id=tenant.id,
        user_id=admin.id,
        payload={"username": admin.username, "role": "admin"},
    )
    emit(db, "channel.created", tenant_id=tenant.id, payload={"channel_id": channel.id, "kind": "web"})
    return NewTenant(tenant, admin, channel)


@action
def do_update_tenant(db: Session, caller: Caller, *, name: str | None = None, time_zone: str | None = None) -> Tenant:
    require_role(caller, Role.admin)
    tenant = db.get_one(Tenant, caller.tenant_id)
    changed: dict[str, str] = {}
    if name is not None and name.strip() and name.strip() != tenant.name:
        tenant.name = changed["name"] = name.strip()
    if time_zone is not None and time_zone != tenant.time_zone:
        tenant.time_zone = changed["time_zone"] = check_time_zone(time_zone)
    if changed:
        emit(db, "tenant.updated", tenant_id=tenant.id, actor_id=caller.user_id, payload={"changed": changed})
    return tenant

"""Opening a web-chat visitor: the widget connects with the channel's public widget key and, if it has
them, the visitor token it kept and the customer signature from the tenant's site.

Rules of :func:`do_open_visitor`:

- unknown widget key → 404 ``channel.unknown_widget_key``; disabled channel → 403 ``channel.disabled``;
- a signed customer (logged-in shopper) is verified with the channel's identity secret and mapped to the
  visitor with ``external_id = customer_id``, created or updated (attributes given replace the stored
  ones; attributes not given are kept). **The identified visitor wins**: if the browser also presents the
  token of an anonymous visitor, that anonymous visitor is left as it is (its conversations stay with
  it) and its id is recorded as ``previous_visitor_id`` in the ``visitor.identified`` event, so the two
  can be linked later;
- otherwise a valid token of an *anonymous* visitor of this channel resumes that visitor;
- otherwise (no token, a token that is forged, expired, of another tenant or channel, or of a visitor
  who no longer exists) a new anonymous visitor is created. A token of an *identified* visitor presented
  without a customer signature also starts a new anonymous visitor: the shopper has logged out, and the
  next person at a shared computer must not see his conversations.

Every open returns a freshly issued token (so a visitor who keeps coming back never reaches the token's
maximum age) and sets ``last_seen_at``.

Events: ``visitor.created`` for a new row; ``visitor.identified`` when a signed customer created or
changed a visitor or took over from an anonymous one. Payloads carry ids and the *names* of changed
fields, never phone numbers or e-mail addresses (events are kept for ever).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kefu.db.base import utcnow
from kefu.db.session import action
from kefu.errors import Forbidden, KefuError, Msg, NotAuthenticated, NotFound
from kefu.events.record import emit
from kefu.models.channel import Channel
from kefu.models.visitor import Visitor
from kefu.visitors.identity import (
    VISITOR_TOKEN_MAX_AGE,
    CustomerIdentity,
    SignedCustomer,
    claim_matches,
    issue_visitor_token,
    verify_customer,
    verify_visitor_token,
)

MAX_USER_AGENT = 512
MAX_IP = 45  # an IPv6 address in its longest text form


class OpenedVisitor(NamedTuple):
    visitor: Visitor
    channel: Channel
    token: str


def channel_for_widget(db: Session, widget_key: str) -> Channel:
    """The enabled channel of a widget key; a clear 404 or 403 otherwise."""
    channel = db.scalar(select(Channel).where(Channel.widget_key == widget_key)) if widget_key else None
    if channel is None:
        raise NotFound(
            Msg("客服插件密钥无效，请检查网页中的接入代码", "unknown widget key: check the embed code of the page"),
            code="channel.unknown_widget_key",
        )
    if not channel.enabled:
        raise Forbidden(Msg("该网页客服渠道已停用", "this web-chat channel is disabled"), code="channel.disabled")
    return channel


def identity_secret(channel: Channel) -> str:
    secret = (channel.config or {}).get("identity_secret")
    if not isinstance(secret, str) or not secret:
        raise Forbidden(
            Msg(
                "该渠道未配置身份密钥，不能识别登录客户",
                "this channel has no identity secret: logged-in customers cannot be identified",
            ),
            code="visitor.identity_not_configured",
        )
    return secret


def visitor_for_token(
    db: Session,
    token: str,
    *,
    secret_key: str,
    now: datetime | None = None,
    max_age: timedelta = VISITOR_TOKEN_MAX_AGE,
    not_before: datetime | None = None,
) -> tuple[Visitor, Channel]:
    """The visitor and channel of a token, for the requests a visitor makes after opening (messages,
    uploads). Reads only. 401 ``visitor.bad_token`` if the token or its visitor is not valid, 403 if the
    channel was disabled since."""
    claim = verify_visitor_token(secret_key, token, now=now or utcnow(), max_age=max_age, not_before=not_before)
    channel = db.scalar(select(Channel).where(Channel.id == claim.channel_id, Channel.tenant_id == claim.tenant_id))
    visitor = db.scalar(select(Visitor).where(Visitor.id == claim.visitor_id, Visitor.tenant_id == claim.tenant_id))
    if channel is None or visitor is None:
        raise NotAuthenticated(Msg("访客凭证无效", "the visitor token is not valid"), code="visitor.bad_token")
    if not channel.enabled:
        raise Forbidden(Msg("该网页客服渠道已停用", "this web-chat channel is disabled"), code="channel.disabled")
    return visitor, channel


@action
def do_open_visitor(
    db: Session,
    *,
    widget_key: str,
    secret_key: str,
    visitor_token: str | None = None,
    customer: SignedCustomer | None = None,
    user_agent: str | None = None,
    ip: str | None = None,
    now: datetime | None = None,
    token_max_age: timedelta = VISITOR_TOKEN_MAX_AGE,
    tokens_not_before: datetime | None = None,
) -> OpenedVisitor:
    """Resolve who is connecting to a web-chat widget; see the module docstring for the rules."""
    now = now or utcnow()
    channel = channel_for_widget(db, widget_key)
    previous = _token_visitor(db, channel, visitor_token, secret_key, now, token_max_age, tokens_not_before)

    if customer is not None:
        identity = verify_customer(identity_secret(channel), customer, now=now)
        visitor = _identified(db, channel, identity, previous, now)
    elif previous is not None and previous.external_id is None:
        visitor = previous
    else:
        visitor = Visitor(tenant_id=channel.tenant_id, name="", attributes={}, created_at=now)
        db.add(visitor)
        db.flush()
        _emit_created(db, channel, visitor, now)

    visitor.last_seen_at = now
    _remember_client(visitor, user_agent, ip)
    token = issue_visitor_token(
        secret_key, tenant_id=channel.tenant_id, channel_id=channel.id, visitor_id=visitor.id, now=now
    )
    return OpenedVisitor(visitor, channel, token)


def _token_visitor(
    db: Session,
    channel: Channel,
    token: str | None,
    secret_key: str,
    now: datetime,
    max_age: timedelta,
    not_before: datetime | None,
) -> Visitor | None:
    """The visitor of a valid token for this channel, or None: a bad token is no reason to refuse the
    widget, the visitor simply starts afresh."""
    if not token:
        return None
    try:
        claim = verify_visitor_token(secret_key, token, now=now, max_age=max_age, not_before=not_before)
    except KefuError:
        return None
    if not claim_matches(claim, tenant_id=channel.tenant_id, channel_id=channel.id):
        return None
    return db.scalar(select(Visitor).where(Visitor.id == claim.visitor_id, Visitor.tenant_id == channel.tenant_id))


def _identified(
    db: Session, channel: Channel, identity: CustomerIdentity, previous: Visitor | None, now: datetime
) -> Visitor:
    visitor, created = _customer_row(db, channel.tenant_id, identity, now)
    changed = [] if created else _apply(visitor, identity)
    if created:
        _emit_created(db, channel, visitor, now)
    took_over = previous is not None and previous.external_id is None and previous.id != visitor.id
    if created or changed or took_over:
        emit(
            db,
            "visitor.identified",
            tenant_id=channel.tenant_id,
            occurred_at=now,
            payload={
                "visitor_id": visitor.id,
                "channel_id": channel.id,
                "external_id": visitor.external_id,
                "created": created,
                "changed": changed,
                "previous_visitor_id": previous.id if took_over and previous is not None else None,
            },
        )
    return visitor


def _customer_row(db: Session, tenant_id: int, identity: CustomerIdentity, now: datetime) -> tuple[Visitor, bool]:
    """The tenant's visitor with this customer id, created if new. Two first connects of the same customer
    at once (two tabs) meet at the unique key: the loser's insert is undone and it takes the winner's row."""
    query = (
        select(Visitor)
        .where(Visitor.tenant_id == tenant_id, Visitor.external_id == identity.customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    visitor = db.scalar(query)
    if visitor is not None:
        return visitor, False
    try:
        with db.begin_nested():
            visitor = Visitor(
                tenant_id=tenant_id,
                external_id=identity.customer_id,
                name=identity.name or "",
                phone=identity.phone,
                email=identity.email,
                is_vip=bool(identity.vip),
                attributes={},
                created_at=now,
            )
            db.add(visitor)
            db.flush()
        return visitor, True
    except IntegrityError:
        visitor = db.scalar(query)
        if visitor is None:
            raise
        return visitor, False


def _apply(visitor: Visitor, identity: CustomerIdentity) -> list[str]:
    """Take the attributes the tenant signed; returns the names of those that changed."""
    changed: list[str] = []
    for field, value in (("name", identity.name), ("phone", identity.phone), ("email", identity.email)):
        if value is not None and getattr(visitor, field) != value:
            setattr(visitor, field, value)
            changed.append(field)
    if identity.vip is not None and visitor.is_vip != identity.vip:
        visitor.is_vip = identity.vip
        changed.append("is_vip")
    return changed


def _remember_client(visitor: Visitor, user_agent: str | None, ip: str | None) -> None:
    attributes = dict(visitor.attributes or {})
    if user_agent:
        attributes["user_agent"] = user_agent[:MAX_USER_AGENT]
    if ip:
        attributes["ip"] = ip[:MAX_IP]
    if attributes != visitor.attributes:
        visitor.attributes = attributes  # a new dict: the JSON column only notices assignment


def _emit_created(db: Session, channel: Channel, visitor: Visitor, now: datetime) -> None:
    emit(
        db,
        "visitor.created",
        tenant_id=channel.tenant_id,
        occurred_at=now,
        payload={"visitor_id": visitor.id, "channel_id": channel.id, "identified": visitor.external_id is not None},
    )

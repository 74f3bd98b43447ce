"""Opening a web-chat visitor: anonymous tokens, signed customers, the channel's widget key."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from kefu.actions.visitors import do_open_visitor, visitor_for_token
from kefu.db.session import Database
from kefu.errors import Forbidden, NotAuthenticated, NotFound
from kefu.models import Channel, ChannelKind, Event, Visitor
from kefu.visitors.identity import SignedCustomer, issue_visitor_token, new_identity_secret, sign_customer
from tests.factories import make_tenant

NOW = datetime(2026, 11, 11, 1, 0, tzinfo=UTC)
KEY = "test-secret-key"


@dataclass
class Shops:
    tenant_a: int
    tenant_b: int
    key_a: str  # web channel of tenant A, with an identity secret
    key_a2: str  # a second web channel of tenant A
    key_b: str  # web channel of tenant B, with another identity secret
    secret_a: str
    secret_b: str


@pytest.fixture
def shops(database: Database) -> Shops:
    with database.session() as db:
        tenant_a, _ = make_tenant(db, "shop-a")
        tenant_b, _ = make_tenant(db, "shop-b")
        secret_a, secret_b = new_identity_secret(), new_identity_secret()
        # Test setup: no channel-admin action exists yet to set the identity secret or add a channel.
        web_a = db.scalars(select(Channel).where(Channel.tenant_id == tenant_a)).one()
        web_b = db.scalars(select(Channel).where(Channel.tenant_id == tenant_b)).one()
        web_a.config = {"identity_secret": secret_a}
        web_b.config = {"identity_secret": secret_b}
        second = Channel(tenant_id=tenant_a, kind=ChannelKind.web, name="海外站", widget_key="second-key", config={})
        db.add(second)
        db.commit()
        assert web_a.widget_key and web_b.widget_key
        return Shops(tenant_a, tenant_b, web_a.widget_key, "second-key", web_b.widget_key, secret_a, secret_b)


def customer(secret: str, cid: str = "c-1001", *, at: datetime = NOW, **attrs) -> SignedCustomer:  # type: ignore[no-untyped-def]
    ts = int(at.timestamp())
    return SignedCustomer(cid, ts, sign_customer(secret, cid, ts, **attrs), **attrs)


def open_(database: Database, widget_key: str, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("now", NOW)
    with database.session() as db:
        return do_open_visitor(db, widget_key=widget_key, secret_key=KEY, **kw)


def events(database: Database, type_: str) -> list[Event]:
    with database.session() as db:
        return list(db.scalars(select(Event).where(Event.type == type_).order_by(Event.id)))


def visitor_count(database: Database) -> int:
    with database.session() as db:
        return db.scalar(select(func.count()).select_from(Visitor)) or 0


def test_an_anonymous_visitor_comes_back_with_its_token(database: Database, shops: Shops) -> None:
    first = open_(database, shops.key_a, user_agent="Mozilla/5.0", ip="203.0.113.7")
    assert first.visitor.tenant_id == shops.tenant_a and first.visitor.external_id is None
    assert first.channel.widget_key == shops.key_a
    assert first.visitor.attributes == {"user_agent": "Mozilla/5.0", "ip": "203.0.113.7"}
    later = NOW + timedelta(days=40)
    again = open_(database, shops.key_a, visitor_token=first.token, now=later)
    assert again.visitor.id == first.visitor.id
    assert again.visitor.last_seen_at == later
    assert again.token != first.token  # renewed, so a regular visitor never reaches the maximum age
    assert visitor_count(database) == 1
    created = events(database, "visitor.created")
    assert [e.payload["visitor_id"] for e in created] == [first.visitor.id]
    assert created[0].tenant_id == shops.tenant_a


@pytest.mark.parametrize("how", ["tampered", "other_tenant", "other_channel", "expired", "garbage"])
def test_a_token_that_is_not_good_here_starts_a_new_visitor(database: Database, shops: Shops, how: str) -> None:
    token = open_(database, shops.key_b if how == "other_tenant" else shops.key_a).token
    if how == "tampered":
        parts = token.split(".")
        parts[3] = str(int(parts[3]) + 1)  # another visitor id under the same MAC
        token = ".".join(parts)
    now = NOW
    if how == "expired":
        now = NOW + timedelta(days=400)
    if how == "garbage":
        token = "../../etc/passwd"
    key = shops.key_a2 if how == "other_channel" else shops.key_a
    before = visitor_count(database)
    opened = open_(database, key, visitor_token=token, now=now)
    assert visitor_count(database) == before + 1
    assert opened.channel.widget_key == key
    assert opened.visitor.tenant_id == shops.tenant_a


def test_a_forged_token_for_another_tenants_visitor_does_not_reach_it(database: Database, shops: Shops) -> None:
    victim = open_(database, shops.key_b).visitor
    with database.session() as db:
        channel_a = db.scalars(select(Channel).where(Channel.widget_key == shops.key_a)).one()
    # Signed with the wrong key, claiming tenant A's channel but tenant B's visitor id.
    forged = issue_visitor_token(
        "guessed-key", tenant_id=shops.tenant_a, channel_id=channel_a.id, visitor_id=victim.id, now=NOW
    )
    assert open_(database, shops.key_a, visitor_token=forged).visitor.id != victim.id
    # Even a genuine token naming another tenant's visitor finds nothing in this tenant.
    crafted = issue_visitor_token(KEY, tenant_id=shops.tenant_a, channel_id=channel_a.id, visitor_id=victim.id, now=NOW)
    opened = open_(database, shops.key_a, visitor_token=crafted)
    assert opened.visitor.id != victim.id and opened.visitor.tenant_id == shops.tenant_a


def test_unknown_and_disabled_channels_are_refused(database: Database, shops: Shops) -> None:
    with pytest.raises(NotFound) as err:
        open_(database, "no-such-key")
    assert err.value.code == "channel.unknown_widget_key"
    with pytest.raises(NotFound):
        open_(database, "")
    token = open_(database, shops.key_a).token
    with database.session() as db:
        db.scalars(select(Channel).where(Channel.widget_key == shops.key_a)).one().enabled = False
        db.commit()
    with pytest.raises(Forbidden) as forbidden:
        open_(database, shops.key_a)
    assert forbidden.value.code == "channel.disabled"
    with database.session() as db, pytest.raises(Forbidden):
        visitor_for_token(db, token, secret_key=KEY, now=NOW)
    assert visitor_count(database) == 1


def test_a_signed_customer_maps_to_one_visitor_and_updates_it(database: Database, shops: Shops) -> None:
    first = open_(database, shops.key_a, customer=customer(shops.secret_a, name="王女士", phone="13800000000"))
    v = first.visitor
    assert (v.external_id, v.name, v.phone, v.is_vip) == ("c-1001", "王女士", "13800000000", False)
    later = NOW + timedelta(days=3)
    again = open_(
        database,
        shops.key_a,
        customer=customer(shops.secret_a, at=later, name="王芳", email="wf@example.com", vip=True),
        now=later,
    )
    v2 = again.visitor
    assert v2.id == v.id
    assert (v2.name, v2.phone, v2.email, v2.is_vip) == ("王芳", "13800000000", "wf@example.com", True)
    assert v2.last_seen_at == later
    # Nothing new: no event.
    open_(database, shops.key_a, customer=customer(shops.secret_a, at=later), now=later)
    assert visitor_count(database) == 1
    identified = events(database, "visitor.identified")
    assert [e.payload["created"] for e in identified] == [True, False]
    assert identified[1].payload["changed"] == ["name", "email", "is_vip"]
    assert "wf@example.com" not in str(identified[1].payload)  # no contact data in the permanent record
    assert [e.payload["identified"] for e in events(database, "visitor.created")] == [True]


def test_the_same_customer_id_in_two_tenants_is_two_visitors(database: Database, shops: Shops) -> None:
    a = open_(database, shops.key_a, customer=customer(shops.secret_a)).visitor
    b = open_(database, shops.key_b, customer=customer(shops.secret_b)).visitor
    assert a.id != b.id and (a.tenant_id, b.tenant_id) == (shops.tenant_a, shops.tenant_b)
    # Tenant A's secret does not identify anyone in tenant B.
    with pytest.raises(NotAuthenticated):
        open_(database, shops.key_b, customer=customer(shops.secret_a))


def test_bad_customer_signatures_are_refused_and_change_nothing(database: Database, shops: Shops) -> None:
    cases = [
        (customer("wrong-secret"), "visitor.bad_signature"),
        (customer(shops.secret_a, at=NOW - timedelta(minutes=11)), "visitor.signature_expired"),
        (customer(shops.secret_a, at=NOW + timedelta(minutes=5)), "visitor.signature_future"),
    ]
    for signed, code in cases:
        with pytest.raises(NotAuthenticated) as err:
            open_(database, shops.key_a, customer=signed)
        assert err.value.code == code
    with pytest.raises(Forbidden) as forbidden:  # the second channel has no identity secret
        open_(database, shops.key_a2, customer=customer(shops.secret_a))
    assert forbidden.value.code == "visitor.identity_not_configured"
    assert visitor_count(database) == 0
    assert events(database, "visitor.created") == []


def test_an_anonymous_visitor_who_logs_in_becomes_the_identified_one(database: Database, shops: Shops) -> None:
    anon = open_(database, shops.key_a)
    logged_in = open_(database, shops.key_a, visitor_token=anon.token, customer=customer(shops.secret_a))
    assert logged_in.visitor.id != anon.visitor.id
    assert logged_in.visitor.external_id == "c-1001"
    [ident] = events(database, "visitor.identified")
    assert ident.payload["previous_visitor_id"] == anon.visitor.id
    # The identified visitor's token resumes it only together with the signature ...
    back = open_(database, shops.key_a, visitor_token=logged_in.token, customer=customer(shops.secret_a))
    assert back.visitor.id == logged_in.visitor.id
    # ... after logging out, the next person at the same computer is a new anonymous visitor.
    logged_out = open_(database, shops.key_a, visitor_token=logged_in.token)
    assert logged_out.visitor.id not in (anon.visitor.id, logged_in.visitor.id)
    assert logged_out.visitor.external_id is None


def test_visitor_for_token(database: Database, shops: Shops) -> None:
    opened = open_(database, shops.key_a)
    with database.session() as db:
        visitor, channel = visitor_for_token(db, opened.token, secret_key=KEY, now=NOW)
        assert (visitor.id, channel.id) == (opened.visitor.id, opened.channel.id)
        with pytest.raises(NotAuthenticated):
            visitor_for_token(db, opened.token + "x", secret_key=KEY, now=NOW)
        with pytest.raises(NotAuthenticated):
            visitor_for_token(db, opened.token, secret_key="other", now=NOW)


def test_two_tabs_opening_the_same_new_customer_at_once_make_one_visitor(database: Database, shops: Shops) -> None:
    n = 6
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def go(i: int) -> None:
        barrier.wait()
        try:
            results[i] = open_(database, shops.key_a, customer=customer(shops.secret_a, name="王女士")).visitor.id
        except Exception as exc:  # reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(results)) == 1 and isinstance(results[0], int), results
    assert visitor_count(database) == 1
    assert len(events(database, "visitor.created")) == 1

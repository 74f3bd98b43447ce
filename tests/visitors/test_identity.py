"""The visitor token and the customer signature, as pure functions."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from kefu.errors import Invalid, NotAuthenticated
from kefu.visitors.identity import (
    SignedCustomer,
    claim_matches,
    customer_string,
    issue_visitor_token,
    new_identity_secret,
    sign_customer,
    verify_customer,
    verify_visitor_token,
)

NOW = datetime(2026, 11, 11, 1, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
KEY = "installation-secret"


def token(**kw: int) -> str:
    ids = {"tenant_id": 1, "channel_id": 2, "visitor_id": 3} | kw
    return issue_visitor_token(KEY, now=NOW, **ids)


def test_a_visitor_token_round_trips() -> None:
    claim = verify_visitor_token(KEY, token(), now=NOW + timedelta(days=200))
    assert (claim.tenant_id, claim.channel_id, claim.visitor_id, claim.issued_at) == (1, 2, 3, TS)
    assert claim_matches(claim, tenant_id=1, channel_id=2)
    assert not claim_matches(claim, tenant_id=9, channel_id=2)
    assert not claim_matches(claim, tenant_id=1, channel_id=9)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace("v1.1.2.3.", "v1.1.2.4."),  # another visitor
        lambda t: t.replace("v1.1.2.3.", "v1.7.2.3."),  # another tenant
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the MAC
        lambda t: t.rsplit(".", 1)[0],  # no MAC
        lambda t: t + ".x",
        lambda t: "",
        lambda t: "v1.1.2.3.4." + "A" * 5000,
        lambda t: t.replace("v1.", "v2.", 1),
        lambda t: t.replace("v1.1.", "v1.\u0661.", 1),  # a non-ASCII digit
        lambda t: None,
    ],
)
def test_a_tampered_token_is_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotAuthenticated) as err:
        verify_visitor_token(KEY, tamper(token()), now=NOW)
    assert err.value.code == "visitor.bad_token"


def test_a_token_signed_with_another_key_is_refused() -> None:
    with pytest.raises(NotAuthenticated):
        verify_visitor_token("another-installation", token(), now=NOW)


def test_a_token_expires_after_a_year_and_can_be_revoked_by_issue_time() -> None:
    t = token()
    verify_visitor_token(KEY, t, now=NOW + timedelta(days=364))
    with pytest.raises(NotAuthenticated) as err:
        verify_visitor_token(KEY, t, now=NOW + timedelta(days=366))
    assert err.value.code == "visitor.token_expired"
    with pytest.raises(NotAuthenticated):
        verify_visitor_token(KEY, t, now=NOW, not_before=NOW + timedelta(seconds=1))
    with pytest.raises(NotAuthenticated):  # issued in the future
        verify_visitor_token(KEY, t, now=NOW - timedelta(hours=1))


# --- signed customer --------------------------------------------------------------------------------------


def signed(secret: str = "s3cret", ts: int = TS, **attrs) -> SignedCustomer:  # type: ignore[no-untyped-def]
    return SignedCustomer("c-1001", ts, sign_customer(secret, "c-1001", ts, **attrs), **attrs)


def test_the_documented_test_vector() -> None:
    data = customer_string("c-1001", 1762822800, name="王女士", vip=True)
    assert data == "c-1001\n1762822800\n王女士\n\n\n1"
    expected = hmac.new(b"s3cret", data.encode(), hashlib.sha256).hexdigest()
    assert expected == "6625cc3d040e91a16f17c8be6a8b6d7931dc8048e532d4f7b6ae68430046704e"
    assert sign_customer("s3cret", "c-1001", 1762822800, name="王女士", vip=True) == expected
    assert customer_string("42", 7) == "42\n7\n\n\n\n"
    assert customer_string("42", 7, vip=False).endswith("\n0")


def test_a_signed_customer_is_accepted_with_its_attributes() -> None:
    who = verify_customer(
        "s3cret", signed(name=" 王女士 ", phone="13800000000", email="w@example.com", vip=True), now=NOW
    )
    assert (who.customer_id, who.name, who.phone, who.email, who.vip) == (
        "c-1001",
        "王女士",
        "13800000000",
        "w@example.com",
        True,
    )
    bare = verify_customer("s3cret", signed(), now=NOW)
    assert (bare.name, bare.phone, bare.email, bare.vip) == (None, None, None, None)
    upper = signed()
    upper = SignedCustomer(upper.customer_id, upper.ts, upper.signature.upper())
    verify_customer("s3cret", upper, now=NOW)


def test_a_bad_signature_is_refused() -> None:
    with pytest.raises(NotAuthenticated) as err:
        verify_customer("another-secret", signed(), now=NOW)
    assert err.value.code == "visitor.bad_signature"
    claimed_vip = signed(vip=False)
    forged = SignedCustomer(claimed_vip.customer_id, claimed_vip.ts, claimed_vip.signature, vip=True)
    with pytest.raises(NotAuthenticated):
        verify_customer("s3cret", forged, now=NOW)
    other = SignedCustomer("c-1002", TS, signed().signature)
    with pytest.raises(NotAuthenticated):
        verify_customer("s3cret", other, now=NOW)
    with pytest.raises(NotAuthenticated):
        verify_customer("s3cret", SignedCustomer("c-1001", TS, "not hex"), now=NOW)


def test_a_stale_or_future_timestamp_is_refused() -> None:
    verify_customer("s3cret", signed(ts=TS - 599), now=NOW)
    verify_customer("s3cret", signed(ts=TS + 59), now=NOW)
    with pytest.raises(NotAuthenticated) as err:
        verify_customer("s3cret", signed(ts=TS - 601), now=NOW)
    assert err.value.code == "visitor.signature_expired"
    with pytest.raises(NotAuthenticated) as err:
        verify_customer("s3cret", signed(ts=TS + 120), now=NOW)
    assert err.value.code == "visitor.signature_future"
    with pytest.raises(NotAuthenticated) as err:  # milliseconds by mistake
        verify_customer("s3cret", signed(ts=TS * 1000), now=NOW)
    assert "milliseconds" in err.value.msg.en


def test_malformed_customers_are_refused() -> None:
    with pytest.raises(Invalid):
        sign_customer("s3cret", "c-1001", TS, name="a\nb")
    for cid in ["", " c-1 ", "x" * 129]:
        with pytest.raises(Invalid) as err:
            verify_customer("s3cret", SignedCustomer(cid, TS, "0" * 64), now=NOW)
        assert err.value.code == "visitor.bad_customer"


def test_attributes_are_cut_to_the_column_sizes() -> None:
    who = verify_customer("s3cret", signed(name="名" * 150, phone="1" * 40), now=NOW)
    assert who.name == "名" * 100
    assert who.phone == "1" * 32


def test_identity_secrets_are_random() -> None:
    assert new_identity_secret() != new_identity_secret()
    assert len(new_identity_secret()) >= 40


def test_customers_parsed_from_json_are_type_checked() -> None:
    good = signed(vip=True)
    as_wire = SignedCustomer(good.customer_id, good.ts, good.signature, vip="1")  # type: ignore[arg-type]
    assert verify_customer("s3cret", as_wire, now=NOW).vip is True
    bad = [
        SignedCustomer(1001, TS, good.signature),  # type: ignore[arg-type]
        SignedCustomer("c-1001", "1762822800", good.signature),  # type: ignore[arg-type]
        SignedCustomer("c-1001", True, good.signature),  # type: ignore[arg-type]
        SignedCustomer("c-1001", TS, good.signature, name=["x"]),  # type: ignore[arg-type]
        SignedCustomer("c-1001", TS, good.signature, vip="yes"),  # type: ignore[arg-type]
        SignedCustomer("c-1001", TS, good.signature, vip=1),  # type: ignore[arg-type]
        SignedCustomer("c-1001", TS, None),  # type: ignore[arg-type]
    ]
    for customer in bad:
        with pytest.raises(Invalid) as err:
            verify_customer("s3cret", customer, now=NOW)
        assert err.value.code == "visitor.bad_customer"

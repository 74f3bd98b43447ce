"""Who a web-chat visitor is: pure functions, no I/O, the clock passed in.

Two ways, both verified without a database lookup:

**Anonymous visitor token.** kefu issues it on the first connect; the browser keeps it (localStorage)
and presents it on every reconnect. It is bound to tenant, channel and visitor, carries its issue time
and is signed with the installation's secret key::

    v1.<tenant_id>.<channel_id>.<visitor_id>.<issued_at unix seconds>.<mac>
    mac = base64url_nopad(HMAC-SHA256(secret_key, "visitor:" + everything before ".<mac>"))

The ``"visitor:"`` prefix keeps it apart from the other MACs made with the same key (CSRF uses
``"csrf:"``). A token is valid for :data:`VISITOR_TOKEN_MAX_AGE` (a year: visitors come back weeks later);
``not_before`` refuses all tokens issued before a moment (rotation after a leak).

**Logged-in shopper of the tenant's site** (signed customer). The tenant's own server signs the
customer's id with the channel's *identity secret* and hands the signature to the widget; see
:func:`customer_string` for the exact string to sign.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from kefu.errors import Invalid, Msg, NotAuthenticated

VISITOR_TOKEN_MAX_AGE = timedelta(days=365)
#: How old a customer signature may be: long enough for a page that stays open before the chat starts,
#: short enough that an old signature copied from a page cannot be replayed for long.
CUSTOMER_SIGNATURE_MAX_AGE = timedelta(minutes=10)
#: How far in the future a timestamp may be (clock skew between servers).
CLOCK_SKEW = timedelta(seconds=60)

_TOKEN_VERSION = "v1"  # noqa: S105 - a format version, not a secret
_TOKEN_RE = re.compile(
    r"v1\.([1-9]\d{0,18})\.([1-9]\d{0,18})\.([1-9]\d{0,18})\.(\d{1,12})\.([A-Za-z0-9_-]{43})", re.ASCII
)
_MAX_TOKEN_LEN = 200

#: Column sizes of ``visitors``: the customer id must fit exactly; display attributes are cut to fit.
MAX_CUSTOMER_ID = 128
MAX_NAME = 100
MAX_PHONE = 32
MAX_EMAIL = 254
#: C0 and C1 control characters and DEL: never part of an id or attribute (and ``\n`` separates fields).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_HEX_SIG = re.compile(r"[0-9a-fA-F]{64}")


# --- anonymous visitor token ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VisitorClaim:
    """What a valid visitor token says."""

    tenant_id: int
    channel_id: int
    visitor_id: int
    issued_at: int  # Unix seconds


def _mac(secret_key: str, purpose: str, message: str) -> bytes:
    return hmac.new(secret_key.encode(), f"{purpose}:{message}".encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def issue_visitor_token(secret_key: str, *, tenant_id: int, channel_id: int, visitor_id: int, now: datetime) -> str:
    """A token for the browser to keep; see the module docstring for its format."""
    if not secret_key:
        raise ValueError("no secret key")
    body = f"{_TOKEN_VERSION}.{tenant_id}.{channel_id}.{visitor_id}.{int(now.timestamp())}"
    return f"{body}.{_b64(_mac(secret_key, 'visitor', body))}"


def verify_visitor_token(
    secret_key: str,
    token: str,
    *,
    now: datetime,
    max_age: timedelta = VISITOR_TOKEN_MAX_AGE,
    not_before: datetime | None = None,
) -> VisitorClaim:
    """The claim of a genuine, unexpired token; :class:`NotAuthenticated` otherwise.

    The caller must still check that the claim's tenant and channel are the ones the visitor connects
    to (:func:`claim_matches`)."""
    ok = isinstance(token, str) and len(token) <= _MAX_TOKEN_LEN
    match = _TOKEN_RE.fullmatch(token) if ok else None
    if match is None:
        raise _bad_token()
    body = token.rsplit(".", 1)[0]
    if not hmac.compare_digest(_b64(_mac(secret_key, "visitor", body)), match.group(5)):
        raise _bad_token()
    claim = VisitorClaim(int(match.group(1)), int(match.group(2)), int(match.group(3)), int(match.group(4)))
    at = now.timestamp()
    if claim.issued_at > at + CLOCK_SKEW.total_seconds() or (at - claim.issued_at > max_age.total_seconds()):
        raise NotAuthenticated(
            Msg("访客凭证已过期，请刷新页面", "the visitor token has expired; reload the page"),
            code="visitor.token_expired",
        )
    if not_before is not None and claim.issued_at < not_before.timestamp():
        raise NotAuthenticated(
            Msg("访客凭证已失效，请刷新页面", "the visitor token was revoked; reload the page"),
            code="visitor.token_expired",
        )
    return claim


def claim_matches(claim: VisitorClaim, *, tenant_id: int, channel_id: int) -> bool:
    """A token is only good on the channel (and so the tenant) it was issued for."""
    return claim.tenant_id == tenant_id and claim.channel_id == channel_id


def _bad_token() -> NotAuthenticated:
    return NotAuthenticated(Msg("访客凭证无效", "the visitor token is not valid"), code="visitor.bad_token")


# --- signed customer (logged-in shopper) -------------------------------------------------------------------


def new_identity_secret() -> str:
    """A fresh per-channel identity secret (to store in ``Channel.config["identity_secret"]``)."""
    return secrets.token_urlsafe(32)


def customer_string(
    customer_id: str,
    ts: int,
    *,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    vip: bool | None = None,
) -> str:
    """The exact string the tenant's server signs for a logged-in customer.

    Six fields in this fixed order, joined by a single line feed ``"\\n"`` (always six fields, five
    separators; an attribute that is not given is the empty string)::

        customer_id \\n ts \\n name \\n phone \\n email \\n vip

    - ``customer_id``: the shop's own id of the customer, 1–128 characters;
    - ``ts``: the current time as Unix **seconds**, in decimal (e.g. ``1762822800``);
    - ``name``, ``phone``, ``email``: optional; empty means "not given, keep what kefu has";
    - ``vip``: ``1`` for a VIP customer, ``0`` for not VIP, empty for not given.

    No field may contain a control character (in particular no line feed). The signature is the
    lowercase hex HMAC-SHA256 of the UTF-8 bytes of this string, keyed with the UTF-8 bytes of the
    channel's identity secret. It is accepted for 10 minutes after ``ts`` (and up to 60 s before, for
    clock skew). In PHP::

        $ts = time();
        $data = implode("\\n", [$customerId, $ts, $name, $phone, $email, $isVip ? "1" : "0"]);
        $signature = hash_hmac("sha256", $data, $identitySecret);

    In Node.js::

        const data = [customerId, ts, name ?? "", phone ?? "", email ?? "", vip ? "1" : "0"].join("\\n");
        const signature = crypto.createHmac("sha256", identitySecret).update(data, "utf8").digest("hex");

    Example: secret ``s3cret``, customer ``c-1001``, ts ``1762822800``, name ``王女士``, vip ``1``, no phone
    or email → the string ``"c-1001\\n1762822800\\n王女士\\n\\n\\n1"`` → the signature
    ``6625cc3d040e91a16f17c8be6a8b6d7931dc8048e532d4f7b6ae68430046704e`` (check with
    ``printf 'c-1001\\n1762822800\\n王女士\\n\\n\\n1' | openssl dgst -sha256 -hmac s3cret``).
    """
    fields = [customer_id, str(ts), name or "", phone or "", email or "", "" if vip is None else "1" if vip else "0"]
    for value in fields:
        if _CONTROL.search(value):
            raise _bad_customer(
                "字段中不能有控制字符（如换行）", "a field contains a control character (e.g. a line feed)"
            )
    return "\n".join(fields)


def sign_customer(
    secret: str,
    customer_id: str,
    ts: int,
    *,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    vip: bool | None = None,
) -> str:
    """What the tenant's server computes (used by tests and the simulator): hex HMAC-SHA256 of
    :func:`customer_string` with the channel's identity secret."""
    data = customer_string(customer_id, ts, name=name, phone=phone, email=email, vip=vip)
    return hmac.new(secret.encode(), data.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedCustomer:
    """A logged-in customer as the widget presents it: the fields the tenant signed and the signature.
    Built from JSON, it may hold other types; :func:`verify_customer` refuses them (and takes ``vip`` also
    in its signed form ``"1"``/``"0"``/``""``)."""

    customer_id: str
    ts: int
    signature: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    vip: bool | None = None


@dataclass(frozen=True)
class CustomerIdentity:
    """A verified customer; ``None`` attributes were not given and leave the stored value as it is.
    Attributes are cut to the column sizes."""

    customer_id: str
    name: str | None
    phone: str | None
    email: str | None
    vip: bool | None


def verify_customer(
    secret: str,
    customer: SignedCustomer,
    *,
    now: datetime,
    max_age: timedelta = CUSTOMER_SIGNATURE_MAX_AGE,
    skew: timedelta = CLOCK_SKEW,
) -> CustomerIdentity:
    """Check a signed customer against the channel's identity secret; raises :class:`Invalid` for a
    malformed customer and :class:`NotAuthenticated` for a wrong, stale or future signature.

    The signature is checked before the time, so a time error means the secret is right (a clock or
    unit problem, e.g. milliseconds instead of seconds)."""
    if not secret:
        raise ValueError("no identity secret")
    customer = _well_typed(customer)
    cid = customer.customer_id
    if not cid or len(cid) > MAX_CUSTOMER_ID or cid != cid.strip():
        raise _bad_customer(
            f"客户 ID 须为 1–{MAX_CUSTOMER_ID} 个字符，首尾不能有空格",
            f"the customer id must be 1–{MAX_CUSTOMER_ID} characters without surrounding spaces",
        )
    if not _HEX_SIG.fullmatch(customer.signature or ""):
        raise _bad_signature()
    expected = sign_customer(
        secret, cid, customer.ts, name=customer.name, phone=customer.phone, email=customer.email, vip=customer.vip
    )
    if not hmac.compare_digest(expected, customer.signature.lower()):
        raise _bad_signature()
    at = now.timestamp()
    if customer.ts > at + skew.total_seconds():
        raise NotAuthenticated(
            Msg(
                "客户签名的时间戳在未来：请检查服务器时钟，时间戳须为 Unix 秒（不是毫秒）",
                "the customer signature's timestamp is in the future: check the server clock; "
                "ts must be Unix seconds (not milliseconds)",
            ),
            code="visitor.signature_future",
        )
    if at - customer.ts > max_age.total_seconds():
        minutes = round(max_age.total_seconds() / 60)
        raise NotAuthenticated(
            Msg(
                f"客户签名已过期（有效期 {minutes} 分钟），请刷新页面重新签名",
                f"the customer signature has expired (valid for {minutes} minutes); sign it again",
            ),
            code="visitor.signature_expired",
        )
    return CustomerIdentity(
        customer_id=cid,
        name=_cut(customer.name, MAX_NAME),
        phone=_cut(customer.phone, MAX_PHONE),
        email=_cut(customer.email, MAX_EMAIL),
        vip=customer.vip,
    )


_VIP_WIRE: dict[object, bool | None] = {True: True, False: False, None: None, "1": True, "0": False, "": None}


def _well_typed(customer: SignedCustomer) -> SignedCustomer:
    """The customer as parsed from JSON may hold any types: strings where strings belong, ``ts`` an
    integer, ``vip`` a boolean or its signed form ``"1"``/``"0"``/``""``; anything else is refused."""
    texts = (customer.customer_id, customer.signature, customer.name, customer.phone, customer.email)
    if (
        not isinstance(customer.customer_id, str)
        or not isinstance(customer.signature, str)
        or not all(value is None or isinstance(value, str) for value in texts)
        or isinstance(customer.ts, bool)
        or not isinstance(customer.ts, int)
        or not isinstance(customer.vip, bool | str | None)
        or customer.vip not in _VIP_WIRE
    ):
        raise _bad_customer(
            'id、sig、name、phone、email 须为字符串，ts 须为整数（Unix 秒），vip 须为 true/false 或 "1"/"0"',
            'id, sig, name, phone and email must be strings, ts an integer (Unix seconds), vip true/false or "1"/"0"',
        )
    return replace(customer, vip=_VIP_WIRE[customer.vip])


def _cut(value: str | None, size: int) -> str | None:
    value = (value or "").strip()[:size]
    return value or None


def _bad_signature() -> NotAuthenticated:
    return NotAuthenticated(
        Msg(
            "客户签名无效：请检查身份密钥和签名串",
            "the customer signature is not valid: check the secret and the signed string",
        ),
        code="visitor.bad_signature",
    )


def _bad_customer(zh: str, en: str) -> Invalid:
    return Invalid(Msg(f"客户身份无效：{zh}", f"invalid customer: {en}"), code="visitor.bad_customer")

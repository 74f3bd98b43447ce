from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kefu.actions.auth import do_login
from kefu.auth.throttle import ThrottlePolicy
from kefu.db.session import Database
from kefu.models import Event, StaffSession
from tests.factories import PASSWORD, login, make_tenant


@pytest.fixture
def tenant(database: Database) -> int:
    with database.session() as db:
        return make_tenant(db, "acme")[0]


def test_login_sets_a_safe_session_cookie_and_me_works(client: TestClient, tenant: int) -> None:
    resp = client.post("/api/v1/auth/login", json={"tenant": "acme", "username": "admin", "password": PASSWORD})
    assert resp.status_code == 200
    cookies = resp.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("kefu_session="))
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie and "Path=/" in session_cookie
    csrf_cookie = next(c for c in cookies if c.startswith("kefu_csrf="))
    assert "HttpOnly" not in csrf_cookie
    assert resp.json()["me"]["role"] == "admin" and resp.json()["me"]["visible_team_ids"] is None
    me = client.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["username"] == "admin" and me.json()["time_zone"] == "Asia/Shanghai"


def test_wrong_password_unknown_user_and_unknown_tenant_look_the_same(client: TestClient, tenant: int) -> None:
    answers = [
        client.post("/api/v1/auth/login", json={"tenant": t, "username": u, "password": p})
        for t, u, p in [
            ("acme", "admin", "wrong-pass"),
            ("acme", "nobody", PASSWORD),
            ("nope", "admin", PASSWORD),
        ]
    ]
    assert {r.status_code for r in answers} == {401}
    assert len({r.json()["error"]["message"] for r in answers}) == 1
    assert answers[0].json()["error"]["message"] == "企业标识、用户名或密码错误"


def test_errors_speak_english_when_asked(client: TestClient, tenant: int) -> None:
    resp = client.post(
        "/api/v1/auth/login",
        json={"tenant": "acme", "username": "admin", "password": "x"},
        headers={"Accept-Language": "en-US,en;q=0.9,zh;q=0.5"},
    )
    assert resp.json()["error"] == {"code": "login.failed", "message": "wrong tenant, username or password"}


def test_cookie_changes_need_the_csrf_token(client: TestClient, tenant: int) -> None:
    csrf = login(client, "acme", "admin")
    del client.headers["X-CSRF-Token"]
    refused = client.post("/api/v1/teams", json={"name": "华东"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf"
    wrong = client.post("/api/v1/teams", json={"name": "华东"}, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    ok = client.post("/api/v1/teams", json={"name": "华东"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    assert client.get("/api/v1/teams").status_code == 200  # reads need no token


def test_logout_ends_the_session(client: TestClient, tenant: int, database: Database) -> None:
    login(client, "acme", "admin")
    stolen = client.cookies.get("kefu_session")
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401
    # The old cookie value is dead on the server, not only forgotten by the browser.
    other = TestClient(client.app)
    other.cookies.set("kefu_session", stolen or "")
    assert other.get("/api/v1/auth/me").status_code == 401
    with database.session() as db:
        assert db.scalars(select(StaffSession)).one().ended_at is not None


def test_repeated_failures_are_slowed_down(client: TestClient, tenant: int, database: Database) -> None:
    body = {"tenant": "acme", "username": "admin", "password": "wrong-password"}
    assert [client.post("/api/v1/auth/login", json=body).status_code for _ in range(3)] == [401, 401, 401]
    slowed = client.post("/api/v1/auth/login", json={**body, "password": PASSWORD})
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) >= 1
    assert slowed.json()["error"]["code"] == "login.slow_down"
    with database.session() as db:
        failures = db.scalars(select(Event).where(Event.type == "staff.login_failed")).all()
        assert len(failures) == 3 and failures[-1].payload["failures"] == 3


def test_lockout_and_release_with_a_clock(database: Database) -> None:
    policy = ThrottlePolicy()
    t0 = datetime(2026, 11, 11, tzinfo=UTC)
    with database.session() as db:
        make_tenant(db, "acme")

        def attempt(at: datetime, password: str = "wrong-password"):  # type: ignore[no-untyped-def]
            return do_login(
                db,
                tenant_slug="acme",
                username="admin",
                password=password,
                session_ttl=timedelta(hours=1),
                now=at,
                policy=policy,
            )

        at = t0
        for _ in range(policy.lock_after):
            outcome = attempt(at)
            assert outcome.verdict is None and not outcome.ok
            at += policy.max_delay  # wait out each slow-down
        last_failure = at - policy.max_delay
        locked = attempt(at, PASSWORD)  # even the right password is refused while locked
        assert locked.verdict is not None and locked.verdict.locked and not locked.ok
        still = attempt(last_failure + policy.lock_for - timedelta(seconds=1), PASSWORD)
        assert still.verdict is not None and still.verdict.locked
        released = attempt(last_failure + policy.lock_for, PASSWORD)
        assert released.ok
        after = attempt(last_failure + policy.lock_for + timedelta(seconds=1))
        assert after.verdict is None  # a success wiped the slate


def test_locked_account_answers_423(client: TestClient, tenant: int, database: Database) -> None:
    with database.session() as db:
        at = datetime.now(UTC) - timedelta(minutes=5)
        for i in range(10):
            do_login(
                db,
                tenant_slug="acme",
                username="admin",
                password="wrong-password",
                session_ttl=timedelta(hours=1),
                now=at + timedelta(seconds=31 * i),
            )
    resp = client.post("/api/v1/auth/login", json={"tenant": "acme", "username": "admin", "password": PASSWORD})
    assert resp.status_code == 423 and "锁定" in resp.json()["error"]["message"]


def test_api_tokens_are_created_used_and_revoked(client: TestClient, tenant: int) -> None:
    login(client, "acme", "admin")
    created = client.post("/api/v1/api-tokens", json={"name": "工单系统"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("kefu_") and created.json()["prefix"] == token[:12]
    listed = client.get("/api/v1/api-tokens").json()["items"]
    assert [t["name"] for t in listed] == ["工单系统"] and "token" not in listed[0]

    integration = TestClient(client.app)
    bearer = {"Authorization": f"Bearer {token}"}
    assert integration.post("/api/v1/teams", json={"name": "集成建的"}, headers=bearer).status_code == 201  # no CSRF
    assert integration.get("/api/v1/api-tokens", headers=bearer).json()["items"][0]["last_used_at"] is not None

    assert client.delete(f"/api/v1/api-tokens/{created.json()['id']}").status_code == 200
    refused = integration.get("/api/v1/teams", headers=bearer)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "not_authenticated"
    assert integration.get("/api/v1/teams", headers={"Authorization": "Bearer kefu_forged"}).status_code == 401


def test_only_admins_manage_tokens(client: TestClient, database: Database) -> None:
    from kefu.access.scope import caller_for
    from kefu.models.staff import Role
    from tests.factories import make_user

    with database.session() as db:
        _, admin = make_tenant(db, "acme")
        make_user(db, caller_for(db, admin), "sup", Role.supervisor, [])
    login(client, "acme", "sup")
    assert client.post("/api/v1/api-tokens", json={"name": "x"}).status_code == 403
    assert client.get("/api/v1/api-tokens").status_code == 403


def test_attempts_sent_in_parallel_cannot_slip_past_the_throttle(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from kefu.actions import auth as auth_actions

    with database.session() as db:
        make_tenant(db, "acme")
    checked = []
    real_verify = auth_actions.verify_password

    def slow_verify(password_hash, password):  # type: ignore[no-untyped-def]
        checked.append(password)
        time.sleep(0.2)  # a slow hash widens the window a racing attacker would use
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth_actions, "verify_password", slow_verify)
    outcomes = []

    def attempt(i: int) -> None:
        with database.session() as db:
            outcomes.append(
                do_login(
                    db, tenant_slug="acme", username="admin", password=f"guess-{i}", session_ttl=timedelta(hours=1)
                )
            )

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 20 and not any(o.ok for o in outcomes)
    assert len(checked) <= ThrottlePolicy().free_failures  # the rest were refused before any password check
    assert sum(o.verdict is not None for o in outcomes) >= 20 - ThrottlePolicy().free_failures


def test_a_password_reset_during_a_login_wins(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The password is verified outside any transaction; if an administrator resets it meanwhile, the
    login with the old one must not open a session."""
    from kefu.access.scope import caller_for
    from kefu.actions import auth as auth_actions
    from kefu.actions.users import do_update_user
    from kefu.models.staff import Role
    from kefu.schemas.user import UserUpdate
    from tests.factories import make_user

    with database.session() as db:
        _, admin = make_tenant(db, "acme")
        agent_id = make_user(db, caller_for(db, admin), "agent", Role.agent, []).id
        admin_id = admin.id
    real_verify = auth_actions.verify_password

    def verify_while_admin_resets(password_hash, password):  # type: ignore[no-untyped-def]
        ok = real_verify(password_hash, password)
        with database.session() as other:
            as_admin = caller_for(other, other.get_one(auth_actions.User, admin_id))
            do_update_user(other, as_admin, agent_id, UserUpdate(password="reset-by-admin-1"))
        return ok

    monkeypatch.setattr(auth_actions, "verify_password", verify_while_admin_resets)
    with database.session() as db:
        outcome = do_login(db, tenant_slug="acme", username="agent", password=PASSWORD, session_ttl=timedelta(hours=1))
    assert not outcome.ok
    with database.session() as db:
        assert db.scalar(select(func.count()).select_from(StaffSession)) == 0

"""The ``kefu`` command as users run it: in a fresh folder, through real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKEND
from tests.helpers_server import KefuProcess, free_port

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="the command line is exercised on the embedded default")


def kefu(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_") or k == "KEFU_ARGON2_PROFILE"}
    return subprocess.run(
        [sys.executable, "-m", "kefu.cli", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_refuses_an_unmigrated_database_then_upgrade_and_create_tenant(tmp_path: Path) -> None:
    refused = kefu(["serve", "--port", "1"], tmp_path)
    assert refused.returncode == 2 and "kefu db upgrade" in refused.stderr
    assert kefu(["db", "upgrade"], tmp_path).returncode == 0
    assert (tmp_path / "var" / "kefu.db").exists() and (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0
    created = kefu(
        ["admin", "create-tenant", "acme", "--name", "Acme 商城", "--password-stdin"],
        tmp_path,
        stdin="long-enough-pw\n",
    )
    assert created.returncode == 0, created.stderr
    assert "acme" in created.stdout
    again = kefu(
        ["admin", "create-tenant", "acme", "--name", "x", "--password-stdin"],
        tmp_path,
        stdin="long-enough-pw\n",
    )
    assert again.returncode == 2 and "已被使用" in again.stderr
    weak = kefu(["admin", "create-tenant", "other", "--name", "x", "--password-stdin"], tmp_path, stdin="short\n")
    assert weak.returncode == 2 and "8" in weak.stderr
    token = kefu(["admin", "create-token", "--tenant", "acme", "--username", "admin"], tmp_path)
    assert token.returncode == 0 and token.stdout.strip().startswith("kefu_")


def test_demo_comes_up_and_the_printed_admin_can_list_teams(tmp_path: Path) -> None:
    port = free_port()
    proc = KefuProcess(["demo"], {}, tmp_path, port)
    try:
        health = proc.wait_healthy(timeout=60)
        assert health["status"] == "ok"
        out = proc.output()
        assert "admin" in out and "kefu-demo-2026" in out and "widget key" in out
        with httpx.Client(base_url=proc.base) as http:
            login = http.post(
                "/api/v1/auth/login",
                json={"tenant": "demo", "username": "admin", "password": "kefu-demo-2026"},
            )
            assert login.status_code == 200
            teams = http.get("/api/v1/teams").json()
            assert {t["name"] for t in teams["items"]} == {"总部", "华东大区", "华南大区", "华北大区"}
            assert "kefu" in http.get("/").text
    finally:
        proc.stop()

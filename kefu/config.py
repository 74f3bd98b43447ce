"""Settings from environment variables (prefix ``KEFU_``) and an optional ``.env`` file."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import available_timezones

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEFU_", env_file=".env", extra="ignore")

    #: Folder for the embedded database, the generated secret key and uploads.
    var_dir: Path = Path("var")
    #: SQLAlchemy URL; the default is an SQLite file under ``var_dir``.
    database_url: str = ""
    #: Redis URL for the scale-out event bus; unset means the in-process bus.
    redis_url: str | None = None
    #: Key for signing (visitor tokens, CSRF); generated and kept in ``var_dir`` on first run.
    secret_key: str = ""
    #: Default time zone of new tenants.
    time_zone: str = "Asia/Shanghai"
    #: Send the session cookie only over HTTPS. Off by default so the demo works on http://127.0.0.1.
    cookie_secure: bool = False
    session_hours: float = Field(default=12.0, gt=0)
    #: Prefix of Redis channel names, so that several installations can share one Redis.
    bus_namespace: str = "kefu"
    #: An agent whose sockets are all gone this long is set away and his share of the queue goes to others.
    agent_away_after_s: float = Field(default=120.0, ge=0)
    #: A conversation with no message from either side this long is ended (by timeout); 0 = never.
    conversation_idle_timeout_s: float = Field(default=1800.0, ge=0)
    #: Where chat attachments are stored (default: ``var_dir``/uploads).
    upload_dir: Path | None = None
    #: Where messages are committed: ``process`` (a child process of each server, which keeps the event
    #: loop's GIL free for the sockets) or ``thread`` (a thread of the server process).
    message_writer: Literal["process", "thread"] = "process"
    #: Freeze what the server keeps for its life out of the garbage collector's sight, and collect the
    #: youngest objects less often (``kefu.ops.gc_tuning``); for a serving process, not for tests.
    gc_tuning: bool = True
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not is_time_zone(value):
            raise ValueError(f"unknown time zone {value!r}")
        return value

    def model_post_init(self, __context: object) -> None:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.var_dir / 'kefu.db').resolve()}"
        if not self.secret_key:
            self.secret_key = _load_or_create_secret(self.var_dir / "secret_key")

    @property
    def redis_url_or_none(self) -> str | None:
        return self.redis_url or None


def _load_or_create_secret(path: Path) -> str:
    """Keep one random key per installation, so sessions survive a restart."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: if two processes start at once, the second reads the first one's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_time_zone(name: str) -> bool:
    """An IANA zone name such as Asia/Shanghai (checked against the list, so "Asia" or "../x" is refused)."""
    return name in _zones()


@lru_cache
def get_settings() -> Settings:
    return Settings()

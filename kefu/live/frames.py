"""Reading client frames and writing error frames (docs/protocol.md is the reference)."""

from __future__ import annotations

from typing import Any

import orjson

from kefu.errors import Invalid, KefuError, Msg
from kefu.jsontext import dumps
from kefu.schemas.common import MAX_ID

PROTOCOL_VERSION = 1
#: Largest text frame a client may send.
MAX_FRAME_BYTES = 64 * 1024
#: Messages returned by one ``sync``.
SYNC_LIMIT = 500


def encode(frame: dict[str, Any]) -> str:
    """A frame as the JSON text sent on a socket (see ``kefu.jsontext``)."""
    return dumps(frame)


def parse(raw: str) -> dict[str, Any]:
    # A character is 1 to 4 bytes in UTF-8: only a frame between the two bounds needs encoding to tell.
    if len(raw) > MAX_FRAME_BYTES // 4 and (len(raw) > MAX_FRAME_BYTES or len(raw.encode()) > MAX_FRAME_BYTES):
        raise Invalid(Msg("帧过大", f"the frame is larger than {MAX_FRAME_BYTES} bytes"), code="frame.too_large")
    try:
        frame = orjson.loads(raw)
    except ValueError:  # orjson.JSONDecodeError is a ValueError
        raise Invalid(Msg("帧不是合法的 JSON", "the frame is not valid JSON"), code="frame.not_json") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise Invalid(
            Msg("帧须为带 type 字段的 JSON 对象", "a frame is a JSON object with a type"), code="frame.no_type"
        )
    return frame


def need_int(frame: dict[str, Any], name: str, *, optional: bool = False, low: int = 0) -> int | None:
    value = frame.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_ID:
        raise Invalid(
            Msg(f"字段 {name} 须为整数", f"field {name} must be an integer"), code="frame.bad_field", field=name
        )
    return value


def need_str(frame: dict[str, Any], name: str, *, optional: bool = False, max_len: int = 10_000) -> str | None:
    value = frame.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise Invalid(
            Msg(f"字段 {name} 须为字符串（最多 {max_len} 字）", f"field {name} must be a string of at most {max_len}"),
            code="frame.bad_field",
            field=name,
        )
    return value


def client_msg_id(frame: dict[str, Any]) -> str:
    value = need_str(frame, "client_msg_id", max_len=64)
    assert value is not None
    if not value.strip():
        raise Invalid(
            Msg("client_msg_id 不能为空（请用 UUID）", "client_msg_id must not be empty (use a UUID)"),
            code="frame.bad_field",
            field="client_msg_id",
        )
    return value


def error_frame(exc: KefuError, lang: str, ref: Any = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": exc.code, "message": exc.msg.pick(lang), "status": exc.status}
    if ref is not None:
        frame["ref"] = ref
    if exc.details:
        frame["details"] = exc.details
    return frame


def unknown_type(kind: str) -> Invalid:
    return Invalid(Msg(f"未知的帧类型 {kind}", f"unknown frame type {kind}"), code="frame.unknown_type")

"""Chat attachments over HTTP: upload (visitor or staff), download by capability URL, and the signed
attachment reference a ``send`` frame carries.

An upload answers with the stored file's metadata and an ``attachment_token``: the metadata signed with
the server key. A ``send`` frame passes the token back, so the server knows the file's checked type and
size without trusting the client and without a table of uploads. Download URLs are capability URLs
(tenant + content hash + signature), so an ``<img>`` in the widget or workspace can show them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, UploadFile
from fastapi.responses import FileResponse

from kefu.api.deps import CallerDep
from kefu.chat.attachments import attachment_path, save_attachment
from kefu.config import Settings
from kefu.db.base import utcnow
from kefu.errors import Invalid, Msg, NotFound
from kefu.visitors.identity import verify_visitor_token

router = APIRouter(tags=["附件 attachments"])
public_router = APIRouter(tags=["附件 attachments"])


def upload_dir(settings: Settings) -> Path:
    return settings.upload_dir or settings.var_dir / "uploads"


def _mac(settings: Settings, purpose: str, data: str) -> str:
    mac = hmac.new(settings.secret_key.encode(), f"{purpose}\n{data}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode().rstrip("=")


def file_url(settings: Settings, tenant_id: int, sha256: str) -> str:
    return f"/api/v1/files/{tenant_id}/{sha256}?sig={_mac(settings, 'file', f'{tenant_id}/{sha256}')}"


def sign_attachment(settings: Settings, tenant_id: int, meta: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()).decode()
    return f"{body}.{_mac(settings, 'attachment', f'{tenant_id}.{body}')}"


def attachment_from_frame(settings: Settings, tenant_id: int, frame: dict[str, Any]) -> dict[str, Any]:
    token = frame.get("attachment_token")
    bad = Invalid(
        Msg("附件无效，请重新上传", "the attachment is invalid; upload it again"), code="attachment.bad_token"
    )
    if not isinstance(token, str) or "." not in token or len(token) > 4000:
        raise bad
    body, mac = token.rsplit(".", 1)
    if not hmac.compare_digest(mac, _mac(settings, "attachment", f"{tenant_id}.{body}")):
        raise bad
    meta: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body))
    if meta.get("kind") != frame.get("kind"):
        raise Invalid(
            Msg("消息类型与附件不符", "the message kind does not match the attachment"), code="attachment.kind"
        )
    return meta


def _store(settings: Settings, tenant_id: int, file: UploadFile, expect: str | None) -> dict[str, Any]:
    meta = dict(
        save_attachment(
            upload_dir(settings),
            tenant_id,
            file.file,
            file.filename,
            expect="image" if expect == "image" else ("file" if expect == "file" else None),
        )
    )
    meta["url"] = file_url(settings, tenant_id, str(meta["sha256"]))
    return {"attachment": meta, "attachment_token": sign_attachment(settings, tenant_id, meta)}


@router.post("/uploads", summary="上传聊天附件（坐席）/ upload a chat attachment (staff)")
def upload_staff(caller: CallerDep, request: Request, file: UploadFile, kind: str | None = None) -> dict[str, Any]:
    return _store(request.app.state.settings, caller.tenant_id, file, kind)


@public_router.post("/visitor/uploads", summary="上传聊天附件（访客）/ upload a chat attachment (visitor)")
def upload_visitor(
    request: Request,
    file: UploadFile,
    x_visitor_token: Annotated[str, Header(description="访客令牌 / the visitor token from welcome")],
    kind: str | None = None,
) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    claim = verify_visitor_token(settings.secret_key, x_visitor_token, now=utcnow())
    return _store(settings, claim.tenant_id, file, kind)


@public_router.get("/files/{tenant_id}/{sha256}", include_in_schema=False)
def download(request: Request, tenant_id: int, sha256: str, sig: str = "") -> FileResponse:
    settings: Settings = request.app.state.settings
    if not hmac.compare_digest(sig, _mac(settings, "file", f"{tenant_id}/{sha256}")):
        raise NotFound(Msg("文件不存在", "no such file"))
    try:
        path = attachment_path(upload_dir(settings), tenant_id, sha256)
    except ValueError:
        raise NotFound(Msg("文件不存在", "no such file")) from None
    if not path.is_file():
        raise NotFound(Msg("文件不存在", "no such file"))
    # Served as a download, never rendered as a page of our origin.
    return FileResponse(path, headers={"X-Content-Type-Options": "nosniff", "Content-Disposition": "attachment"})

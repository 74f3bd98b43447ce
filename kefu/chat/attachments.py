"""Images and files sent in a chat: checked, stored once, opened safely.

Layout under the upload folder (``base_dir``)::

    <base_dir>/<tenant_id>/<first two hex digits of sha256>/<sha256>

The stored name is the SHA-256 of the content, so the same upload is stored once per tenant however
often and under whatever names it is sent; the original (cleaned) name lives in the message's attachment
metadata. A file is written to a temporary name in the tenant's folder (``.upload-*.tmp``), flushed to
disk and then renamed into place (``os.replace``), so a half-written file is never visible under its
final name; a refused or failed upload leaves nothing behind.

The type is decided by the content (magic bytes, via the ``filetype`` package), never by the name or the
client's claim. Allowed: images png, jpeg, gif, webp; files pdf, docx, xlsx, pptx (a zip whose parts
are checked; macro-enabled documents are refused), zip, and plain text / csv (UTF-8, UTF-16 with BOM,
or GB18030 as Excel writes it on Chinese Windows; no control characters). The name's extension is made
to agree with the content (``photo.exe`` holding a PNG is kept as ``photo.exe.png``).

These functions do blocking file I/O: call them from a worker thread, not on the event loop. When
serving a stored file, send the metadata's ``mime`` with ``X-Content-Type-Options: nosniff`` and, for
anything that is not an image, ``Content-Disposition: attachment``.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Literal, NotRequired, TypedDict

import filetype
import imagesize

from kefu.errors import Invalid, Msg, not_found

AttachmentKind = Literal["image", "file"]

MB = 1024 * 1024
MAX_IMAGE_BYTES = 5 * MB
MAX_FILE_BYTES = 10 * MB
MAX_NAME = 150
_CHUNK = 64 * 1024
_HEAD = 8192  # what filetype looks at
_TMP_PREFIX = ".upload-"
_TMP_SUFFIX = ".tmp"

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ZIP = "application/zip"

#: Allowed types: MIME type → (extension given to a name without a fitting one, extensions that fit).
IMAGE_TYPES: dict[str, tuple[str, frozenset[str]]] = {
    "image/png": ("png", frozenset({"png"})),
    "image/jpeg": ("jpg", frozenset({"jpg", "jpeg", "jpe", "jfif"})),
    "image/gif": ("gif", frozenset({"gif"})),
    "image/webp": ("webp", frozenset({"webp"})),
}
FILE_TYPES: dict[str, tuple[str, frozenset[str]]] = {
    "application/pdf": ("pdf", frozenset({"pdf"})),
    DOCX: ("docx", frozenset({"docx"})),
    XLSX: ("xlsx", frozenset({"xlsx"})),
    PPTX: ("pptx", frozenset({"pptx"})),
    ZIP: ("zip", frozenset({"zip"})),
    "text/plain": ("txt", frozenset({"txt", "text", "log"})),
    "text/csv": ("csv", frozenset({"csv"})),
}
_KNOWN_EXTS = frozenset(ext for _, exts in (IMAGE_TYPES | FILE_TYPES).values() for ext in exts)
#: The main part that makes a zip an Office document of each kind.
_OOXML_MAIN = {"word/document.xml": DOCX, "xl/workbook.xml": XLSX, "ppt/presentation.xml": PPTX}

_SHA256 = re.compile(r"[0-9a-f]{64}")
#: Characters never kept in a file name: control characters, path separators and what Windows forbids.
_NAME_DROP = re.compile(r'[\x00-\x1f\x7f-\x9f<>:"/\\|?*]')
#: Characters that make a file binary rather than text (tab, line feed, form feed and CR are fine).
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


class AttachmentMeta(TypedDict):
    sha256: str
    name: str
    size: int
    mime: str
    kind: AttachmentKind
    width: NotRequired[int]
    height: NotRequired[int]


def _mb(limit: int) -> str:
    return f"{limit / MB:g} MB"


def _too_large(kind: AttachmentKind, limit: int) -> Invalid:
    what_zh, what_en = ("图片", "image") if kind == "image" else ("文件", "file")
    return Invalid(
        Msg(f"{what_zh}太大：不能超过 {_mb(limit)}", f"the {what_en} is too large: at most {_mb(limit)}"),
        code="attachment.too_large",
        limit=limit,
    )


def _not_allowed(expect: AttachmentKind | None) -> Invalid:
    if expect == "image":
        msg = Msg("只能发送 PNG、JPEG、GIF 或 WebP 图片", "only PNG, JPEG, GIF or WebP images can be sent")
    else:
        msg = Msg(
            "不支持此文件类型：可发送图片（PNG、JPEG、GIF、WebP）、PDF、Word、Excel、PowerPoint（docx/xlsx/pptx）、"
            "ZIP 压缩包和文本（txt/csv）",
            "this file type is not allowed: send images (PNG, JPEG, GIF, WebP), PDF, Word, Excel or "
            "PowerPoint (docx/xlsx/pptx), ZIP or text (txt/csv)",
        )
    return Invalid(msg, code="attachment.type_not_allowed")


def _tenant_dir(base_dir: Path, tenant_id: int) -> Path:
    if isinstance(tenant_id, bool) or not isinstance(tenant_id, int) or tenant_id <= 0:
        raise ValueError(f"bad tenant id {tenant_id!r}")
    return base_dir / str(tenant_id)


def save_attachment(
    base_dir: Path,
    tenant_id: int,
    source: bytes | BinaryIO,
    filename: str | None,
    *,
    expect: AttachmentKind | None = None,
    max_image_bytes: int = MAX_IMAGE_BYTES,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> AttachmentMeta:
    """Check and store an upload; returns its metadata for ``Message.attachment``.

    ``expect="image"`` (the widget's picture button) accepts only images; ``expect="file"`` accepts every
    allowed type and reports images as files too (sent as a file, under the file size limit); ``None``
    takes the kind from the content. Raises :class:`Invalid` with code ``attachment.empty``,
    ``attachment.too_large`` or ``attachment.type_not_allowed``."""
    folder = _tenant_dir(base_dir, tenant_id)
    chunks = _chunks(source)
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= _HEAD:
            break
    if not head:
        raise Invalid(Msg("不能发送空文件", "the file is empty"), code="attachment.empty")
    guess = filetype.guess(head[:_HEAD])
    guessed = guess.mime if guess is not None else None
    is_image = guessed in IMAGE_TYPES
    if expect == "image" and not is_image:
        raise _not_allowed(expect)
    kind: AttachmentKind = "image" if is_image and expect != "file" else "file"
    limit = max_image_bytes if kind == "image" else max_file_bytes

    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX, dir=folder)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            for chunk in _prepend(head, chunks):
                size += len(chunk)
                if size > limit:
                    raise _too_large(kind, limit)
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        mime = _classify(tmp, head, guessed, filename)
        if mime is None:
            raise _not_allowed(expect)
        meta: AttachmentMeta = {
            "sha256": digest.hexdigest(),
            "name": clean_filename(filename, mime, kind),
            "size": size,
            "mime": mime,
            "kind": kind,
        }
        if is_image:
            width, height = _dimensions(tmp)
            if width > 0 and height > 0:
                meta["width"], meta["height"] = width, height
        _put_in_place(tmp, folder, meta["sha256"])
        return meta
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _chunks(source: bytes | BinaryIO) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        for i in range(0, len(data), _CHUNK):
            yield data[i : i + _CHUNK]
        return
    while chunk := source.read(_CHUNK):
        yield chunk


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _put_in_place(tmp: Path, folder: Path, sha256: str) -> None:
    target_dir = folder / sha256[:2]
    target_dir.mkdir(exist_ok=True)
    target = target_dir / sha256
    if target.exists():
        return  # the same content is already stored; the temporary copy is removed by the caller
    os.replace(tmp, target)
    _fsync_dir(target_dir)


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _classify(path: Path, head: bytes, guessed: str | None, filename: str | None) -> str | None:
    """The MIME type of an allowed upload, or None."""
    if guessed in IMAGE_TYPES or guessed == "application/pdf":
        return guessed
    if guessed in (ZIP, DOCX, XLSX, PPTX) or head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _zip_type(path)
    # Not a known binary type (or a type that is not allowed, whose magic may just be the first letters of
    # a text such as "BM..." or "MZ..."): allowed only if the whole file is text.
    charset = _text_charset(path)
    if charset is None:
        return None
    is_csv = (filename or "").lower().rstrip(" .").endswith(".csv")
    return f"{'text/csv' if is_csv else 'text/plain'}; charset={charset}"


def _zip_type(path: Path) -> str | None:
    """A zip is an Office document if it has the content-types part and the main part of one; a
    macro-enabled document (``vbaProject.bin``) is refused. A damaged zip is refused."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        return None
    if "[Content_Types].xml" in names:
        for part, mime in _OOXML_MAIN.items():
            if part in names:
                return mime
    return ZIP


def _text_charset(path: Path) -> str | None:
    with path.open("rb") as fh:
        start = fh.read(4)
    utf16 = start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    candidates = ["utf-16"] if utf16 else ["utf-8", "gb18030"]
    for charset in candidates:
        if _is_text(path, charset):
            return charset
    return None


def _is_text(path: Path, charset: str) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8-sig" if charset == "utf-8" else charset)(errors="strict")
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                if _NOT_TEXT.search(decoder.decode(chunk)):
                    return False
            return not _NOT_TEXT.search(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        return False


def _dimensions(path: Path) -> tuple[int, int]:
    try:
        width, height = imagesize.get(str(path))
    except Exception:  # a damaged header only means no dimensions
        return -1, -1
    return int(width), int(height)


def clean_filename(name: str | None, mime: str, kind: AttachmentKind = "file") -> str:
    """The original name without folders, control or reserved characters or leading dots, at most
    :data:`MAX_NAME` characters, with an extension that fits the content."""
    base_mime = mime.split(";", 1)[0]
    default_ext, fitting = (IMAGE_TYPES | FILE_TYPES)[base_mime]
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = _NAME_DROP.sub("", name).strip().lstrip(".").strip()
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if ext.lower() not in fitting:
        if ext.lower() in _KNOWN_EXTS:
            name = stem.rstrip(". ")  # a known type under the wrong extension: replace it
        name = f"{name or ('image' if kind == 'image' else 'file')}.{default_ext}"
        stem, _, ext = name.rpartition(".")
    if len(name) > MAX_NAME:
        name = f"{stem[: MAX_NAME - len(ext) - 1].rstrip('. ')}.{ext}"
    return name


def attachment_path(base_dir: Path, tenant_id: int, sha256: str) -> Path:
    """Where a tenant's stored attachment is; 404 for anything that is not a stored attachment of this
    tenant (only a 64-digit lowercase hex name is ever looked up, so no path can be smuggled in)."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise not_found("附件", "attachment")
    try:
        folder = _tenant_dir(base_dir, tenant_id)
    except ValueError:
        raise not_found("附件", "attachment") from None
    path = folder / sha256[:2] / sha256
    if not path.is_file():
        raise not_found("附件", "attachment")
    return path


def open_attachment(base_dir: Path, tenant_id: int, sha256: str) -> BinaryIO:
    """The stored content for reading (the caller closes it)."""
    return attachment_path(base_dir, tenant_id, sha256).open("rb")


def remove_stale_uploads(base_dir: Path, *, now: datetime, older_than: timedelta = timedelta(hours=1)) -> int:
    """Delete temporary files left by uploads that were interrupted (``kill -9``); returns how many.
    Safe to run while uploads go on: only files older than ``older_than`` are removed."""
    cutoff = now.timestamp() - older_than.total_seconds()
    removed = 0
    if not base_dir.is_dir():
        return 0
    for tmp in base_dir.glob(f"*/{_TMP_PREFIX}*{_TMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
                removed += 1
    return removed

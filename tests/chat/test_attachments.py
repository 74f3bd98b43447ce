"""Chat attachments: the type comes from the content, limits hold, content is stored once, nothing
half-written or outside the tenant's folder is ever reachable."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kefu.chat.attachments import (
    DOCX,
    PPTX,
    XLSX,
    attachment_path,
    clean_filename,
    open_attachment,
    remove_stale_uploads,
    save_attachment,
)
from kefu.errors import Invalid, NotFound

MB = 1024 * 1024


def png(width: int = 3, height: int = 2, extra: bytes = b"") -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + b"\x10\x20\x30" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + (chunk(b"tEXt", extra) if extra else b"")
        + chunk(b"IEND", b"")
    )


JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    b"\xff\xc0\x00\x11\x08\x00\x07\x00\x09\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    b"\xff\xd9"
)
GIF = b"GIF89a" + struct.pack("<HH", 5, 4) + b"\x00\x00\x00;"
_VP8L = bytes([0x2F, 9, (5 & 0x3) << 6, 5 >> 2, 0]) + b"\0" * 8  # lossless, 10 x 6
WEBP = b"RIFF" + struct.pack("<I", 4 + 8 + len(_VP8L)) + b"WEBP" + b"VP8L" + struct.pack("<I", len(_VP8L)) + _VP8L
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\0" * 44 + b"\x80\0\0\0" + b"\0" * 64 + b"PE\0\0"
)


def zipped(*names: str, first: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ([first] if first else []) + list(names):
            zf.writestr(name, "<x/>" * 10)
    return buf.getvalue()


OOXML = ("[Content_Types].xml", "_rels/.rels", "docProps/core.xml")
ALLOWED = [
    ("photo.png", png(), "image", "image/png", "photo.png"),
    ("photo.jpg", JPEG, "image", "image/jpeg", "photo.jpg"),
    ("anim.gif", GIF, "image", "image/gif", "anim.gif"),
    ("pic.webp", WEBP, "image", "image/webp", "pic.webp"),
    ("invoice.pdf", PDF, "file", "application/pdf", "invoice.pdf"),
    ("合同.docx", zipped(*OOXML, "word/document.xml"), "file", DOCX, "合同.docx"),
    ("订单.xlsx", zipped(*OOXML, "xl/workbook.xml"), "file", XLSX, "订单.xlsx"),
    ("slides.pptx", zipped(*OOXML, "ppt/presentation.xml"), "file", PPTX, "slides.pptx"),
    # LibreOffice may write the content-types part late: the zip's directory decides, not the first bytes.
    ("late.docx", zipped("_rels/.rels", "word/document.xml", "[Content_Types].xml"), "file", DOCX, "late.docx"),
    ("logs.zip", zipped("a.txt", "b/c.log"), "file", "application/zip", "logs.zip"),
    ("note.txt", "你好，订单 123 没收到\r\n".encode(), "file", "text/plain; charset=utf-8", "note.txt"),
    ("bom.txt", "\ufeffhello\n".encode(), "file", "text/plain; charset=utf-8", "bom.txt"),
    ("导出.csv", "订单号,金额\n1,9.9\n".encode("gbk"), "file", "text/csv; charset=gb18030", "导出.csv"),
    ("unicode.txt", "名字\tok\n".encode("utf-16"), "file", "text/plain; charset=utf-16", "unicode.txt"),
    ("BMW.txt", b"BMW 3 series, is it in stock?\n", "file", "text/plain; charset=utf-8", "BMW.txt"),
]


@pytest.mark.parametrize(("name", "data", "kind", "mime", "stored_name"), ALLOWED, ids=[a[0] for a in ALLOWED])
def test_each_allowed_type_is_accepted(
    tmp_path: Path, name: str, data: bytes, kind: str, mime: str, stored_name: str
) -> None:
    meta = save_attachment(tmp_path, 7, data, name)
    assert (meta["kind"], meta["mime"], meta["name"], meta["size"]) == (kind, mime, stored_name, len(data))
    with open_attachment(tmp_path, 7, meta["sha256"]) as fh:
        assert fh.read() == data
    assert attachment_path(tmp_path, 7, meta["sha256"]).parent.parent == tmp_path / "7"


def test_image_dimensions_are_read_from_the_header(tmp_path: Path) -> None:
    sizes = {
        name: save_attachment(tmp_path, 1, data, name)
        for name, data in [("a.png", png(3, 2)), ("b.gif", GIF), ("c.jpg", JPEG), ("d.webp", WEBP)]
    }
    assert {name: (m["width"], m["height"]) for name, m in sizes.items()} == {
        "a.png": (3, 2),
        "b.gif": (5, 4),
        "c.jpg": (9, 7),
        "d.webp": (10, 6),
    }
    assert "width" not in save_attachment(tmp_path, 1, PDF, "e.pdf")


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("name", "data", "expect"),
    [
        ("cute.png", EXE, None),  # a program renamed to .png
        ("cute.png", EXE, "image"),
        ("setup.exe", EXE, None),
        ("elf.txt", b"\x7fELF\x02\x01\x01" + b"\0" * 60, None),
        ("page.png", b"<svg onload=alert(1)>", "image"),  # text is no image
        ("doc.pdf", PDF, "image"),  # a PDF is no image
        ("macro.docm", zipped(*OOXML, "word/document.xml", "word/vbaProject.bin"), None),
        ("broken.zip", b"PK\x03\x04" + b"\x01" * 40, None),
        ("bin.dat", bytes(range(256)) * 4, None),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, None),  # OLE (and encrypted Office)
    ],
)
def test_types_are_judged_by_content_and_refused(tmp_path: Path, name: str, data: bytes, expect: str | None) -> None:
    with pytest.raises(Invalid) as err:
        save_attachment(tmp_path, 7, data, name, expect=expect)  # type: ignore[arg-type]
    assert err.value.code == "attachment.type_not_allowed"
    assert err.value.msg.zh and err.value.msg.en
    assert files_under(tmp_path) == []


def test_too_large_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    big_png = png(extra=b"x" * (5 * MB))
    with pytest.raises(Invalid) as err:
        save_attachment(tmp_path, 7, big_png, "big.png")
    assert err.value.code == "attachment.too_large"
    assert "5 MB" in err.value.msg.zh and "5 MB" in err.value.msg.en
    assert files_under(tmp_path) == []
    # Sent as a file, the same picture is under the file limit.
    meta = save_attachment(tmp_path, 7, big_png, "big.png", expect="file")
    assert (meta["kind"], meta["mime"]) == ("file", "image/png")
    with pytest.raises(Invalid) as err:  # a stream is cut off at the limit, not read to its end
        save_attachment(tmp_path, 8, io.BytesIO(PDF + b"0" * (10 * MB)), "big.pdf")
    assert err.value.code == "attachment.too_large" and "10 MB" in err.value.msg.en
    with pytest.raises(Invalid) as err:
        save_attachment(tmp_path, 8, b"a" * 101, "a.txt", max_file_bytes=100)
    assert err.value.code == "attachment.too_large"
    assert files_under(tmp_path / "8") == []
    assert save_attachment(tmp_path, 8, b"a" * 100, "a.txt", max_file_bytes=100)["size"] == 100


def test_empty_is_refused(tmp_path: Path) -> None:
    for empty in (b"", io.BytesIO(b"")):
        with pytest.raises(Invalid) as err:
            save_attachment(tmp_path, 7, empty, "nothing.txt")
        assert err.value.code == "attachment.empty"
    assert files_under(tmp_path) == []


def test_the_same_content_is_stored_once_per_tenant(tmp_path: Path) -> None:
    a = save_attachment(tmp_path, 7, PDF, "a.pdf")
    b = save_attachment(tmp_path, 7, io.BytesIO(PDF), "b.pdf")
    assert a["sha256"] == b["sha256"] and (a["name"], b["name"]) == ("a.pdf", "b.pdf")
    assert len(files_under(tmp_path / "7")) == 1
    c = save_attachment(tmp_path, 9, PDF, "a.pdf")
    assert len(files_under(tmp_path)) == 2
    # Tenants do not share: tenant 9 cannot open tenant 7's copy by its hash unless it has its own.
    with pytest.raises(NotFound):
        attachment_path(tmp_path, 8, c["sha256"])


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\system32\\evil.txt", "evil.txt"),
        ("/abs/path/报告.txt", "报告.txt"),
        ("..", "file.txt"),
        ("...hidden.txt", "hidden.txt"),
        ('a\x00b\nc<>:"|?*.txt', "abc.txt"),
        ("", "file.txt"),
        (None, "file.txt"),
        ("run.exe", "run.exe.txt"),
        ("readme.png", "readme.txt"),  # a known type under the wrong extension: replaced
        ("x" * 300 + ".txt", "x" * 146 + ".txt"),
    ],
)
def test_names_are_cleaned(given: str | None, expected: str) -> None:
    assert clean_filename(given, "text/plain; charset=utf-8") == expected


def test_saved_names_keep_no_path_and_fit_the_content(tmp_path: Path) -> None:
    meta = save_attachment(tmp_path, 7, png(), "../../../../tmp/photo.exe")
    assert meta["name"] == "photo.exe.png"
    assert files_under(tmp_path) == [tmp_path / "7" / meta["sha256"][:2] / meta["sha256"]]
    assert clean_filename(None, "image/png", "image") == "image.png"
    assert clean_filename("IMG_1.JPEG", "image/jpeg", "image") == "IMG_1.JPEG"


@pytest.mark.parametrize(
    "sha",
    [
        "../../../etc/passwd",
        "../7/" + "a" * 60,
        "A" * 64,  # uppercase is never a stored name
        "a" * 63,
        "a" * 64 + "\n",
        "a" * 64 + "/../x",
        "",
    ],
)
def test_lookups_that_are_not_a_stored_hash_are_refused(tmp_path: Path, sha: str) -> None:
    save_attachment(tmp_path, 7, PDF, "a.pdf")
    with pytest.raises(NotFound):
        open_attachment(tmp_path, 7, sha)


def test_lookups_are_per_tenant_and_need_a_valid_tenant(tmp_path: Path) -> None:
    sha = save_attachment(tmp_path, 7, PDF, "a.pdf")["sha256"]
    for tenant in (8, 0, -7, True):
        with pytest.raises(NotFound):
            attachment_path(tmp_path, tenant, sha)
    with pytest.raises(NotFound):
        attachment_path(tmp_path, "7/../7", sha)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        attachment_path(tmp_path, 7, "0" * 64)
    with pytest.raises(ValueError):
        save_attachment(tmp_path, "../x", PDF, "a.pdf")  # type: ignore[arg-type]


def test_an_interrupted_upload_is_never_visible_and_is_swept(tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 3:
                raise ConnectionResetError("client went away")
            return PDF if self.calls == 1 else b"0" * 65536

    with pytest.raises(ConnectionResetError):
        save_attachment(tmp_path, 7, Broken(), "a.pdf")  # type: ignore[arg-type]
    assert files_under(tmp_path) == []
    # A temporary file left by a kill -9 is removed by the sweep once it is old enough.
    leftover = tmp_path / "7" / ".upload-abc.tmp"
    leftover.write_bytes(b"half")
    now = datetime.now(UTC)
    assert remove_stale_uploads(tmp_path, now=now) == 0
    assert remove_stale_uploads(tmp_path, now=now + timedelta(hours=2)) == 1
    assert not leftover.exists()
    assert remove_stale_uploads(tmp_path / "missing", now=now) == 0

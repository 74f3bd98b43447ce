"""Normalisation for grouping and uniqueness, and the sanitising of rich-text answers."""

from __future__ import annotations

import pytest

from kefu.kb.normalise import normalise
from kefu.kb.richtext import answer_html, answer_text, answer_to_cell


def test_width_case_punctuation_and_spaces_do_not_matter() -> None:
    assert normalise("怎么退货？") == normalise("怎么 退货") == normalise("怎么退货") == "怎么退货"
    assert normalise("ＡＢＣ１２３，iPhone 15！") == "abc123iphone15"
    assert normalise("😀哈哈\u200b") == "哈哈"
    assert normalise("C++") != normalise("C")
    assert normalise("？？？ ...") == ""


@pytest.mark.parametrize(
    "dirty",
    [
        "<script>alert(1)</script>退货",
        '<img src="x" onerror="alert(1)">',
        '<a href="javascript:alert(1)">点我</a>',
        '<a href="JaVaScRiPt:alert(1)">点我</a>',
        '<iframe src="https://evil.example"></iframe>',
        '<svg onload="alert(1)"><circle/></svg>',
        '<p style="background:url(javascript:alert(1))" onclick="x()">p</p>',
        '<img src="data:image/svg+xml;base64,PHN2Zz4=">',
        "<scr<script>ipt>alert(1)</script>",
        '<a href="vbscript:msgbox(1)">x</a>',
        '<form action="https://evil.example"><input name="pw"></form>',
        '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
        "<style>body{display:none}</style>",
    ],
)
def test_no_script_survives(dirty: str) -> None:
    clean = answer_html(dirty).lower()
    for bad in ("<script", "javascript:", "vbscript:", "onerror", "onload", "onclick", "<iframe", "<svg", "style=",
                "<form", "<input", "data:", "<style"):  # fmt: skip
        assert bad not in clean, (dirty, clean)


def test_links_and_images_are_kept_safely() -> None:
    html = answer_html(
        '请看<a href="https://shop.example/returns" target="_blank">退货说明</a>'
        '<img src="https://cdn.example/a.png" alt="示意图"><img src="/api/v1/files/1/abc">'
    )
    assert '<a href="https://shop.example/returns" target="_blank" rel="noopener noreferrer">退货说明</a>' in html
    assert '<img src="https://cdn.example/a.png" alt="示意图">' in html
    assert '<img src="/api/v1/files/1/abc">' in html


def test_plain_text_stays_text() -> None:
    stored = answer_html("满 99 元 < 100 元 & 包邮\n第二行")
    assert stored == "满 99 元 &lt; 100 元 &amp; 包邮<br>第二行"
    assert answer_to_cell(stored) == "满 99 元 < 100 元 & 包邮\n第二行"
    assert answer_html(answer_to_cell(stored)) == stored
    assert answer_text('<p>签收后<a href="https://x.example">申请</a></p>') == "签收后申请"

from __future__ import annotations

import pytest

from kefu.bot.normalize import normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("請問怎麼退貨", "请问怎么退货"),  # traditional → simplified
        ("ＡＢＣ１２３", "abc123"),  # full-width → half-width, lower case
        ("iPhone 15 保修", "iphone 15 保修"),  # Latin words keep their space
        ("怎么退货？？！", "怎么退货"),  # punctuation
        ("  退货，   发票。 ", "退货发票"),  # whitespace and punctuation between Chinese
        ("微 粒 贷", "微粒贷"),  # spaces between Chinese characters
        ("0.05%利率", "0.05%利率"),  # a decimal point and % belong to the number
        ("我要换卡😀", "我要换卡"),  # emoji
        ("", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_is_idempotent() -> None:
    for text in ("請問ＡＢＣ退貨怎麼辦？", "hello,  World 1,000元"):
        assert normalize(normalize(text)) == normalize(text)

"""Generated knowledge-base files for the import tests (and for measuring a 10,000-entry import)."""

from __future__ import annotations

from kefu.kb.io import COLUMNS, write_file


def generated_rows(n: int, *, similar: int = 3) -> list[list[str]]:
    """``n`` distinct entries in the template's column order, spread over a few categories."""
    return [
        [
            f"第{i}号商品怎么退货",
            "\n".join(f"商品{i}的退货问法{j}" for j in range(similar)),
            f"第 {i} 号商品签收后 7 天内可退。\n请在“我的订单”中申请。",
            f"售后/退货/组{i % 7}",
            "是" if i % 10 else "否",
            "",
            "2030-01-01" if i % 13 == 0 else "",
        ]
        for i in range(n)
    ]


def generated_file(n: int, fmt: str = "csv") -> bytes:
    return write_file(fmt, generated_rows(n))  # type: ignore[arg-type]


assert len(COLUMNS) == 7

"""The knowledge base (知识库) around the matcher: normalisation for grouping, rich-text answers, the
import/export template and the demo KB. The tables are in ``kefu.models.kb``, the writers in
``kefu.actions.kb``; the matching engine itself lives in ``kefu.bot``.

``load_demo_kb`` is imported lazily so that ``kefu.kb.normalise`` stays free of database imports."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from kefu.actions.kb import ImportResult


def load_demo_kb(db: Session, tenant_id: int) -> ImportResult:
    """Load the demo shop's FAQ (``kefu/demo_data/shop_kb.csv``) into a tenant; entries already there are
    updated, so it can run at every ``kefu demo``."""
    from kefu.kb.io import load_demo_kb as load

    return load(db, tenant_id)


__all__ = ["load_demo_kb"]

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from kefu.schemas.common import Page

M = TypeVar("M", bound=BaseModel)

PageNo = Annotated[int, Query(ge=1, le=1_000_000, description="页码，从 1 开始 / page number, from 1")]
PageSize = Annotated[int, Query(ge=1, le=200, description="每页条数 / rows per page")]


def paginate(db: Session, query: Select[Any], page: int, page_size: int) -> tuple[list[Any], int]:
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(db.scalars(query.limit(page_size).offset((page - 1) * page_size)))
    return rows, total


def page_of(items: list[M], total: int, page: int, page_size: int) -> Page[M]:
    return Page[M](items=items, total=total, page=page, page_size=page_size)


def like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"

"""Typed path and query parameters shared by routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from kefu.schemas.common import MAX_ID

PathId = Annotated[int, Path(gt=0, le=MAX_ID, description="id")]
QueryId = Annotated[int | None, Query(gt=0, le=MAX_ID)]

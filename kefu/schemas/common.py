from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")

#: No control characters in one-line text (PostgreSQL refuses NUL; a name with a newline is a mistake).
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
#: Multi-line text may hold tabs and line breaks, no other control characters.
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=ONE_LINE)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=MULTI_LINE)]
#: Ids are 64-bit in the database; larger numbers are refused as bad input, not turned into a 500.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(gt=0, le=MAX_ID)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


class PageParams(BaseModel):
    page: int = Field(1, ge=1)
    page_size: int = Field(20, ge=1, le=200)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)

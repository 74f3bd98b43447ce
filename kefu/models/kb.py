"""The knowledge base (知识库): FAQ entries, their similar questions and categories, the tenant's own
dictionary words and synonym sets, and the learning queue of questions the bot could not answer."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kefu.db.base import Base, BigId, UTCDateTime, utcnow


class KbCategory(Base):
    """A node of the tenant's category tree (分类), e.g. 售后 → 退货."""

    __tablename__ = "kb_categories"
    # Like teams: a NULL parent_id makes rows distinct for the database, so top-level names are also
    # checked by the actions.
    __table_args__ = (UniqueConstraint("tenant_id", "parent_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("kb_categories.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class KbEntry(Base):
    """One FAQ entry: a standard question (标准问题), its similar questions (相似问题) and the answer.

    ``question_key`` is the standard question normalised (``kefu.kb.normalise``): unique per tenant, so
    "怎么退货？" and "怎么 退货" cannot both be entries. The bot uses an entry only while it is enabled and
    ``valid_from <= now < valid_until`` (either bound may be absent)."""

    __tablename__ = "kb_entries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "question_key"),
        Index("ix_kb_entries_tenant_category", "tenant_id", "category_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("kb_categories.id", ondelete="RESTRICT"))
    standard_question: Mapped[str] = mapped_column(String(200))
    question_key: Mapped[str] = mapped_column(String(400))
    #: Sanitised HTML (kefu.kb.richtext): safe to show in the visitor's browser as is.
    answer: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    similar: Mapped[list[KbSimilarQuestion]] = relationship(
        back_populates="entry",
        order_by="KbSimilarQuestion.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    def in_effect(self, now: datetime) -> bool:
        return (
            self.enabled
            and (self.valid_from is None or self.valid_from <= now)
            and (self.valid_until is None or now < self.valid_until)
        )


class KbSimilarQuestion(Base):
    """Another way of asking an entry's question. Its own row, so that the learning queue can attach a
    visitor's wording to an entry later. A question (by key) belongs to one entry of the tenant at most:
    the same words must not lead to two answers."""

    __tablename__ = "kb_similar_questions"
    __table_args__ = (UniqueConstraint("tenant_id", "question_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("kb_entries.id", ondelete="CASCADE"), index=True)
    question: Mapped[str] = mapped_column(String(200))
    question_key: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    entry: Mapped[KbEntry] = relationship(back_populates="similar")


class KbDuplicateDismissal(Base):
    """Two entries an administrator has looked at and declared not duplicates (不是重复): the duplicate list
    (疑似重复) leaves the pair out for as long as both entries exist. Stored once per pair, the lower entry
    id first; deleting either entry deletes the row with it."""

    __tablename__ = "kb_duplicate_dismissals"
    __table_args__ = (
        UniqueConstraint("tenant_id", "entry_id", "other_entry_id"),
        CheckConstraint("entry_id < other_entry_id", name="ordered_pair"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("kb_entries.id", ondelete="CASCADE"), index=True)
    other_entry_id: Mapped[int] = mapped_column(ForeignKey("kb_entries.id", ondelete="CASCADE"), index=True)
    dismissed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KbDictionaryWord(Base):
    """A word of the tenant (a product name, a brand) that the segmenter must keep in one piece."""

    __tablename__ = "kb_dictionary_words"
    __table_args__ = (UniqueConstraint("tenant_id", "word"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    word: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KbSynonymSet(Base):
    """Words that mean the same for the tenant (退款, 退钱, 返款). A word is in one set at most (checked by
    the actions under the tenant lock)."""

    __tablename__ = "kb_synonym_sets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    words: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LearningStatus(enum.StrEnum):
    open = "open"  # waiting for an administrator
    attached = "attached"  # added to an entry as a similar question
    created = "created"  # made into a new entry
    ignored = "ignored"  # not worth an entry (small talk, noise); stays ignored when asked again


class LearningReason(enum.StrEnum):
    unanswered = "unanswered"  # the bot found no answer (or only suggestions)
    unhelpful = "unhelpful"  # the visitor marked the bot's answer as unhelpful


class KbLearningItem(Base):
    """A question the bot could not answer (or whose answer was unhelpful), grouped by normalised text."""

    __tablename__ = "kb_learning_items"
    __table_args__ = (
        UniqueConstraint("tenant_id", "text_key"),
        Index("ix_kb_learning_items_tenant_status_count", "tenant_id", "status", "ask_count"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    text_key: Mapped[str] = mapped_column(String(400))
    #: The wording first asked; ``samples`` keeps a few distinct wordings (newest last).
    text: Mapped[str] = mapped_column(String(500))
    samples: Mapped[list[str]] = mapped_column(JSON, default=list)
    ask_count: Mapped[int] = mapped_column(Integer, default=1)
    unhelpful_count: Mapped[int] = mapped_column(Integer, default=0)
    last_reason: Mapped[LearningReason] = mapped_column(Enum(LearningReason, native_enum=False, length=16))
    #: The entry ids the bot proposed last time, best first (at most three).
    candidates: Mapped[list[int]] = mapped_column(JSON, default=list)
    #: Entry id (as text: a JSON key) → how many times a visitor who asked this picked that entry among the
    #: bot's suggestions (您是不是想问): the strongest hint of where the question belongs.
    picks: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    status: Mapped[LearningStatus] = mapped_column(
        Enum(LearningStatus, native_enum=False, length=16), default=LearningStatus.open
    )
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("kb_entries.id", ondelete="SET NULL"))
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

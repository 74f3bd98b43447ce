"""Conversations and messages over REST: the staff conversation API (``/api/v1/conversations``) and the
visitor's REST fallback (``/api/v1/visitor/...``, docs/protocol.md "REST fallback for visitors").

The visitor-side objects have exactly the fields of the socket's frames (docs/protocol.md §4.1), so a
widget can switch between socket and REST without a second data model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from kefu.models.conversation import ConversationStatus
from kefu.schemas.common import MULTI_LINE, ONE_LINE, Id, ORMModel

ClientMsgId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$")
]
MessageKindIn = Literal["text", "image", "file"]


# --- messages (both sides) ---------------------------------------------------------------------------


class MessagePublic(BaseModel):
    """One message, as in the socket's ``message`` frames."""

    id: int
    seq: int
    sender: str = Field(description="visitor, agent, bot or system")
    sender_id: int | None
    kind: str = Field(description="text, image, file or notice")
    body: str
    attachment: dict[str, Any] | None
    meta: dict[str, Any] | None = None
    client_msg_id: str | None
    created_at: datetime


class MessageAck(BaseModel):
    """The socket's ``ack``: the message is committed (``duplicate``: a resend of a stored message);
    ``message`` is the message as stored."""

    type: Literal["ack"] = "ack"
    client_msg_id: str | None
    conversation_id: int
    message_id: int
    seq: int
    created_at: datetime
    duplicate: bool
    message: MessagePublic


# --- staff --------------------------------------------------------------------------------------------


class ConversationPublic(ORMModel):
    id: int
    channel_id: int
    visitor_id: int
    status: ConversationStatus
    skill_group_id: int | None
    team_id: int | None
    agent_id: int | None
    priority: int
    last_seq: int
    created_at: datetime
    queued_at: datetime | None
    accepted_at: datetime | None
    first_response_at: datetime | None
    last_message_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str | None
    rating: int | None
    rating_comment: str | None


class ConversationMessages(BaseModel):
    conversation: ConversationPublic
    messages: list[MessagePublic]
    has_more: bool = Field(description="more messages follow: ask again with after_seq = the last seq")


class ConversationTransfer(BaseModel):
    """Exactly one of ``to_agent_id`` and ``to_group_id`` (checked after access, error ``transfer.target``)."""

    to_agent_id: Id | None = None
    to_group_id: Id | None = None
    note: Annotated[str, StringConstraints(max_length=500, pattern=MULTI_LINE)] = ""


# --- visitor ------------------------------------------------------------------------------------------


class SignedCustomerIn(BaseModel):
    """A logged-in shopper signed by the tenant's server (docs/protocol.md §2.2)."""

    id: str | int
    ts: int
    sig: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    vip: bool | str | None = None


class VisitorSessionOpen(BaseModel):
    widget_key: Annotated[str, StringConstraints(max_length=64, pattern=ONE_LINE)]
    visitor_token: Annotated[str, StringConstraints(max_length=512)] | None = None
    customer: SignedCustomerIn | None = None
    conversation_id: Id | None = Field(None, description="resume this conversation (default: the open one)")
    after_seq: int | None = Field(None, ge=0, description="messages after this seq (default: the latest 500)")


class VisitorConversation(BaseModel):
    """The visitor's view of a conversation (docs/protocol.md §4.1)."""

    id: int
    status: ConversationStatus
    skill_group_id: int | None
    agent_id: int | None
    agent_name: str | None
    last_seq: int
    created_at: datetime
    queued_at: datetime | None
    ended_at: datetime | None
    rating: int | None
    ratable: bool
    notice: dict[str, Any] | None = Field(None, description="off-hours notice when the group is closed now")


class VisitorSessionPublic(BaseModel):
    visitor_id: int
    visitor_token: str = Field(description="send it as X-Visitor-Token; keep it for the next visit")
    conversation: VisitorConversation | None
    messages: list[MessagePublic]
    has_more: bool


class VisitorMessageSend(BaseModel):
    client_msg_id: ClientMsgId
    body: Annotated[str, StringConstraints(max_length=5000)] = ""
    kind: MessageKindIn = "text"
    attachment_token: Annotated[str, StringConstraints(max_length=4000)] | None = None
    entry_id: Id | None = Field(None, description="the bot's suggestion the visitor picked (docs/protocol.md §5.4)")


class VisitorFeedback(BaseModel):
    message_id: Id
    helpful: bool


class VisitorFeedbackGiven(BaseModel):
    type: Literal["feedback"] = "feedback"
    message_id: int
    helpful: bool
    feedback: str | None


class VisitorMessages(BaseModel):
    conversation: VisitorConversation | None
    messages: list[MessagePublic]
    has_more: bool


class VisitorHuman(BaseModel):
    skill_group_id: Id | None = None


class VisitorRate(BaseModel):
    rating: int = Field(ge=-(2**31), le=2**31, description="1–5 stars (error rating.range otherwise)")
    comment: Annotated[str, StringConstraints(max_length=1000, pattern=MULTI_LINE)] | None = None
    conversation_id: Id | None = Field(None, description="default: the visitor's latest conversation")


class VisitorRated(BaseModel):
    type: Literal["rated"] = "rated"
    conversation_id: int
    rating: int


class AnswerSuggestion(BaseModel):
    entry_id: int
    question: str
    answer_html: str = Field(description="the knowledge-base answer, sanitised HTML")
    answer_text: str = Field(description="the same without markup, for the reply box")
    score: float = Field(description="about 0..1: how much of the question the entry matches")


class AnswerSuggestions(BaseModel):
    conversation_id: int
    #: The visitor's message the suggestions are for (his latest), or null when he has written nothing.
    for_message_id: int | None
    query: str
    items: list[AnswerSuggestion]

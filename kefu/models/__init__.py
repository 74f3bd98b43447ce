"""ORM models, one module per area. Importing this package registers every table on ``Base.metadata``."""

from kefu.models.channel import Channel, ChannelKind
from kefu.models.conversation import (
    Conversation,
    ConversationStatus,
    Message,
    MessageKind,
    SenderKind,
)
from kefu.models.event import Event
from kefu.models.kb import (
    KbCategory,
    KbDictionaryWord,
    KbDuplicateDismissal,
    KbEntry,
    KbLearningItem,
    KbSimilarQuestion,
    KbSynonymSet,
)
from kefu.models.quick_reply import QuickReply, QuickReplyScope
from kefu.models.skill_group import DistributionMode, SkillGroup, SkillGroupAgent
from kefu.models.staff import ApiToken, LoginThrottle, Role, StaffSession, User
from kefu.models.team import Team, TeamMembership
from kefu.models.tenant import Tenant
from kefu.models.visitor import Visitor

__all__ = [
    "ApiToken",
    "Channel",
    "ChannelKind",
    "Conversation",
    "ConversationStatus",
    "DistributionMode",
    "Event",
    "KbCategory",
    "KbDictionaryWord",
    "KbDuplicateDismissal",
    "KbEntry",
    "KbLearningItem",
    "KbSimilarQuestion",
    "KbSynonymSet",
    "LoginThrottle",
    "Message",
    "MessageKind",
    "QuickReply",
    "QuickReplyScope",
    "Role",
    "SenderKind",
    "SkillGroup",
    "SkillGroupAgent",
    "StaffSession",
    "Team",
    "TeamMembership",
    "Tenant",
    "User",
    "Visitor",
]

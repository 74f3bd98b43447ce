export interface Attachment {
  sha256: string;
  name: string;
  size: number;
  mime: string;
  kind: string;
  width?: number;
  height?: number;
  url: string;
}

export interface ChatMessage {
  id: number;
  seq: number;
  sender: "visitor" | "agent" | "bot" | "system" | string;
  sender_id: number | null;
  kind: string;
  body: string;
  attachment: Attachment | null;
  client_msg_id: string | null;
  created_at: string;
  /** `meta.bot` on the bot's messages (docs/protocol.md, the bot section). */
  meta?: { bot?: BotMeta | null; [key: string]: unknown } | null;
}

export interface BotSuggestion {
  entry_id: number;
  question: string;
}

export interface BotMeta {
  outcome: "answer" | "suggest" | "unknown" | "handover" | "smalltalk" | string;
  entry_id: number | null;
  question: string | null;
  /** Sanitised by the server: the only HTML a client may render as HTML. */
  answer_html: string | null;
  suggestions: BotSuggestion[];
  feedback: null | "helpful" | "unhelpful";
}

export interface Me {
  user_id: number;
  tenant_id: number;
  tenant_slug: string;
  tenant_name: string;
  time_zone: string;
  username: string;
  display_name: string;
  role: "admin" | "supervisor" | "agent" | "inspector";
  team_ids: number[];
  visible_team_ids: number[] | null;
}

export interface Team {
  id: number;
  parent_id: number | null;
  name: string;
  description: string;
  children?: Team[];
}

export interface User {
  id: number;
  username: string;
  display_name: string;
  role: Me["role"];
  email: string | null;
  is_active: boolean;
  max_concurrent: number;
  team_ids: number[];
  created_at: string;
}

export interface SkillGroup {
  id: number;
  team_id: number;
  name: string;
  mode: "round_robin" | "broadcast_grab" | "least_busy";
  description: string;
  overflow_group_id: number | null;
  overflow_after_s: number | null;
  overflow_queue_len: number | null;
  working_hours: WorkingHours | null;
  off_hours_message: string;
}

export interface WorkingHours {
  tz?: string;
  weekly?: Record<string, string[][]>;
  exceptions?: Record<string, string[][]>;
}

/** The bot's part of a message, when it is the bot's (null otherwise). */
export function botOf(m: ChatMessage): BotMeta | null {
  if (m.sender !== "bot") return null;
  const b = m.meta?.bot;
  if (!b || typeof b !== "object") return null;
  return { ...b, suggestions: Array.isArray(b.suggestions) ? b.suggestions.filter((s) => s && typeof s.question === "string") : [] };
}

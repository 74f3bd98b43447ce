// The agent's live state: his socket (/ws/agent, docs/protocol.md §2.3, §5), the conversations he serves,
// the offers of his broadcast-grab groups. Components read `desk` and call the actions below.
import { reactive } from "vue";
import { FrameError, LiveSocket, uuid, wsUrl, type Frame } from "../shared/socket";
import type { Attachment, ChatMessage } from "../shared/types";
import { get } from "../shared/api";

export interface Offer {
  conversation_id: number;
  skill_group_id: number;
  priority: number;
  queued_at: string;
}

export interface Outgoing {
  client_msg_id: string;
  body: string;
  kind: string;
  attachment_token?: string;
  attachment?: Attachment | null;
  failed: boolean;
  error?: string;
}

export interface Served {
  id: number;
  status: string;
  skill_group_id: number | null;
  queued_at: string | null;
  created_at: string;
  accepted_at: string;
  ended_by?: string;
  messages: Record<number, ChatMessage>;
  readSeq: number;
  visitorTyping: boolean;
  visitorReadSeq: number;
  pending: Outgoing[];
  note?: string;
  customerName?: string;
  isVip?: boolean;
  draft: string;
}

export type AgentStatus = "online" | "busy" | "away" | "offline";

export const desk = reactive({
  userId: 0,
  status: "offline" as AgentStatus,
  capacity: 0,
  connection: "connecting" as "connecting" | "open" | "closed" | "fatal",
  fatal: "",
  conversations: {} as Record<number, Served>,
  order: [] as number[],
  offers: [] as Offer[],
  selected: null as number | null,
  groups: {} as Record<number, string>,
  focused: true,
});

type Listener = (event: string, data: Frame) => void;
const listeners: Listener[] = [];
export function onDeskEvent(fn: Listener): void {
  listeners.push(fn);
}
function emit(event: string, data: Frame): void {
  for (const fn of listeners) fn(event, data);
}

let wantedStatus: AgentStatus | null = null;

export const socket = new LiveSocket({
  url: wsUrl("/ws/agent"),
  fatalCodes: [4401, 4403],
  hello: () => (wantedStatus ? { type: "hello", status: wantedStatus } : { type: "hello" }),
  onState: (state, detail) => {
    desk.connection = state;
    if (state === "fatal") desk.fatal = detail || "";
  },
  onFrame: (f) => void handle(f),
});

export function sortedMessages(c: Served): ChatMessage[] {
  return Object.values(c.messages).sort((a, b) => a.seq - b.seq);
}

export function contiguous(c: Served): number {
  let s = 0;
  while (c.messages[s + 1]) s++;
  return s;
}

export function unread(c: Served): number {
  return Object.values(c.messages).filter((m) => m.sender === "visitor" && m.seq > c.readSeq).length;
}

/** Since when the visitor waits for an answer (his first message after our last one), or null. */
export function waitingSince(c: Served): string | null {
  if (c.status !== "active") return null;
  let since: string | null = null;
  for (const m of sortedMessages(c)) {
    if (m.sender === "visitor") since = since ?? m.created_at;
    else if (m.sender === "agent") since = null;
  }
  return since;
}

function ensure(id: number, base: Partial<Served> = {}): Served {
  let c = desk.conversations[id];
  if (!c) {
    c = {
      id,
      status: "active",
      skill_group_id: null,
      queued_at: null,
      created_at: new Date().toISOString(),
      accepted_at: new Date().toISOString(),
      messages: {},
      readSeq: 0,
      visitorTyping: false,
      visitorReadSeq: 0,
      pending: [],
      draft: "",
      ...base,
    };
    desk.conversations[id] = c;
    desk.order.push(id);
    void loadCustomer(id);
  } else {
    Object.assign(c, base);
  }
  if (desk.selected === null) desk.selected = id;
  return desk.conversations[id];
}

async function loadCustomer(id: number): Promise<void> {
  try {
    const info = await get<{ visitor: { id: number; name: string; is_vip: boolean } }>(`/api/v1/conversations/${id}/customer`);
    const c = desk.conversations[id];
    if (c) {
      c.customerName = info.visitor.name || "";
      c.isVip = info.visitor.is_vip;
    }
  } catch {
    /* the list shows the conversation id instead */
  }
}

export async function sync(id: number): Promise<void> {
  const c = desk.conversations[id];
  if (!c) return;
  let after = contiguous(c);
  for (let i = 0; i < 20; i++) {
    const reply = await socket.request({ type: "sync", conversation_id: id, after_seq: after });
    for (const m of reply.messages ?? []) c.messages[m.seq] = m;
    const mine = new Set((reply.messages ?? []).map((m: ChatMessage) => m.client_msg_id));
    c.pending = c.pending.filter((p) => !mine.has(p.client_msg_id));
    if (!reply.has_more || !reply.messages?.length) break;
    after = reply.messages[reply.messages.length - 1].seq;
  }
  emit("messages", { conversation_id: id });
}

async function handle(f: Frame): Promise<void> {
  switch (f.type) {
    case "welcome": {
      desk.userId = f.user_id;
      desk.status = f.status;
      desk.capacity = f.capacity;
      desk.offers = (f.offers ?? []).map((o: Frame) => ({ ...o }));
      const live = new Set<number>();
      for (const conv of f.conversations ?? []) {
        live.add(conv.id);
        ensure(conv.id, { status: conv.status, skill_group_id: conv.skill_group_id, queued_at: conv.queued_at, created_at: conv.created_at });
      }
      // Conversations that ended or moved while we were away stay visible, marked ended.
      for (const id of desk.order) if (!live.has(id) && desk.conversations[id].status === "active") desk.conversations[id].status = "ended";
      for (const id of live) {
        await sync(id);
        for (const p of [...desk.conversations[id].pending]) await deliver(id, p);
      }
      break;
    }
    case "status":
      desk.status = f.status;
      if (f.status !== "online") desk.offers = [];
      break;
    case "offer":
      if (!desk.offers.some((o) => o.conversation_id === f.conversation_id)) {
        desk.offers.push({ conversation_id: f.conversation_id, skill_group_id: f.skill_group_id, priority: f.priority, queued_at: f.queued_at });
        desk.offers.sort((a, b) => b.priority - a.priority || a.queued_at.localeCompare(b.queued_at));
        emit("offer", f);
      }
      break;
    case "offer_withdrawn":
      desk.offers = desk.offers.filter((o) => o.conversation_id !== f.conversation_id);
      break;
    case "assigned": {
      desk.offers = desk.offers.filter((o) => o.conversation_id !== f.conversation_id);
      const c = ensure(f.conversation_id, { status: "active", skill_group_id: f.skill_group_id ?? null, note: f.note, accepted_at: new Date().toISOString() });
      c.status = "active";
      emit("assigned", f);
      await sync(f.conversation_id);
      break;
    }
    case "grabbed":
      if (f.conversation) ensure(f.conversation_id, { status: f.conversation.status, skill_group_id: f.conversation.skill_group_id, queued_at: f.conversation.queued_at, created_at: f.conversation.created_at });
      break;
    case "transferred_away":
      if (desk.conversations[f.conversation_id]) {
        desk.conversations[f.conversation_id].status = "transferred";
      }
      break;
    case "conversation": {
      const c = desk.conversations[f.conversation_id];
      if (c && f.status) {
        c.status = f.status;
        if (f.ended_by) c.ended_by = f.ended_by;
        if (f.status === "ended") c.visitorTyping = false;
      }
      break;
    }
    case "message": {
      const c = desk.conversations[f.conversation_id];
      if (!c) break;
      const m = f.message as ChatMessage;
      const have = contiguous(c);
      c.messages[m.seq] = m;
      c.pending = c.pending.filter((p) => p.client_msg_id !== m.client_msg_id);
      if (m.sender === "visitor") c.visitorTyping = false;
      if (m.seq > have + 1) await sync(c.id);
      emit("message", f);
      break;
    }
    case "ack": {
      // The ack carries our own message (this socket gets no separate "message" frame for it).
      const c = desk.conversations[f.conversation_id];
      if (!c) break;
      const have = contiguous(c);
      c.pending = c.pending.filter((p) => p.client_msg_id !== f.client_msg_id);
      if (f.message) c.messages[f.seq] = f.message as ChatMessage;
      if (!c.messages[f.seq] || f.seq > have + 1) await sync(c.id);
      emit("message", { conversation_id: f.conversation_id, message: f.message });
      break;
    }
    case "typing": {
      const c = desk.conversations[f.conversation_id];
      if (c) {
        c.visitorTyping = f.on !== false;
        if (c.visitorTyping) window.setTimeout(() => (c.visitorTyping = false), 8000);
      }
      break;
    }
    case "read": {
      const c = desk.conversations[f.conversation_id];
      if (c) c.visitorReadSeq = Math.max(c.visitorReadSeq, f.seq);
      break;
    }
  }
}

async function deliver(id: number, p: Outgoing): Promise<void> {
  p.failed = false;
  const frame: Frame = { type: "send", conversation_id: id, client_msg_id: p.client_msg_id, body: p.body, kind: p.kind };
  if (p.attachment_token) frame.attachment_token = p.attachment_token;
  try {
    await socket.request(frame);
  } catch (e) {
    const c = desk.conversations[id];
    if (e instanceof FrameError && e.code !== "storage.unavailable") {
      if (c) c.pending = c.pending.filter((x) => x.client_msg_id !== p.client_msg_id);
      emit("error", { message: e.message });
    } else {
      p.failed = true;
    }
  }
}

export function retry(id: number, p: Outgoing): void {
  void deliver(id, p);
}

export function sendMessage(id: number, body: string, kind = "text", extra: Partial<Outgoing> = {}): void {
  const c = desk.conversations[id];
  if (!c) return;
  const p: Outgoing = { client_msg_id: uuid(), body, kind, failed: false, ...extra };
  c.pending.push(p);
  if (socket.isReady) void deliver(id, c.pending[c.pending.length - 1]);
}

export function markRead(id: number): void {
  const c = desk.conversations[id];
  if (!c) return;
  const last = contiguous(c);
  if (last > c.readSeq) {
    c.readSeq = last;
    if (c.status === "active") socket.send({ type: "read", conversation_id: id, seq: last });
  }
}

export async function setStatus(status: AgentStatus): Promise<void> {
  wantedStatus = status;
  const reply = await socket.request({ type: "status", status });
  desk.status = reply.status;
}

export async function grab(id: number): Promise<void> {
  try {
    await socket.request({ type: "grab", conversation_id: id });
    desk.selected = id;
  } finally {
    desk.offers = desk.offers.filter((o) => o.conversation_id !== id);
  }
}

export async function endConversation(id: number): Promise<void> {
  await socket.request({ type: "end", conversation_id: id });
  const c = desk.conversations[id];
  if (c) c.status = "ended";
}

export async function transfer(id: number, target: { to_agent_id?: number; to_group_id?: number }, note: string): Promise<void> {
  const frame: Frame = { type: "transfer", conversation_id: id, ...target };
  if (note.trim()) frame.note = note.trim();
  await socket.request(frame);
  const c = desk.conversations[id];
  if (c) c.status = "transferred";
}

export function closeConversation(id: number): void {
  delete desk.conversations[id];
  desk.order = desk.order.filter((x) => x !== id);
  if (desk.selected === id) desk.selected = desk.order[0] ?? null;
}

export function sendTyping(id: number, on: boolean): void {
  socket.send({ type: "typing", conversation_id: id, on });
}

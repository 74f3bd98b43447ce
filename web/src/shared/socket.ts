// A JSON WebSocket that reconnects by itself (docs/protocol.md §6.4): requests carry a `ref` and are matched
// with their reply; `hello` is rebuilt on every (re)connect so the caller can resume from its last seq.
export type Frame = Record<string, any>;

export interface LiveSocketOptions {
  url: string;
  hello: () => Frame;
  onFrame: (frame: Frame) => void;
  onState?: (state: SocketState, detail?: string) => void;
  /** Close codes after which we must not reconnect (authentication, forbidden). */
  fatalCodes?: number[];
}

export type SocketState = "connecting" | "open" | "closed" | "fatal";

interface Pending {
  resolve: (f: Frame) => void;
  reject: (e: Error) => void;
  timer: number;
}

export class FrameError extends Error {
  constructor(public frame: Frame) {
    super(String(frame.message || frame.code));
  }
  get code(): string {
    return String(this.frame.code);
  }
}

export function wsUrl(path: string): string {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

export function uuid(): string {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export class LiveSocket {
  private ws: WebSocket | null = null;
  private nextRef = 1;
  private pending = new Map<string, Pending>();
  private attempts = 0;
  private stopped = false;
  private ready = false;
  private pingTimer = 0;
  private retryTimer = 0;
  state: SocketState = "closed";

  constructor(private opts: LiveSocketOptions) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    this.ws?.close(1000);
  }

  /** Reconnect now (after a network change, or a close code 4000/4008). */
  reconnect(): void {
    this.ws?.close(1000);
  }

  get isReady(): boolean {
    return this.ready;
  }

  private setState(s: SocketState, detail?: string): void {
    this.state = s;
    this.opts.onState?.(s, detail);
  }

  private connect(): void {
    window.clearTimeout(this.retryTimer);
    this.setState("connecting");
    const ws = new WebSocket(this.opts.url);
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify(this.opts.hello()));
    };
    ws.onmessage = (ev) => {
      let frame: Frame;
      try {
        frame = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      if (frame.type === "welcome") {
        this.ready = true;
        this.attempts = 0;
        this.setState("open");
        window.clearInterval(this.pingTimer);
        this.pingTimer = window.setInterval(() => this.send({ type: "ping" }), 25000);
      }
      const ref = frame.ref !== undefined ? String(frame.ref) : null;
      if (ref && this.pending.has(ref)) {
        const p = this.pending.get(ref)!;
        this.pending.delete(ref);
        window.clearTimeout(p.timer);
        if (frame.type === "error") p.reject(new FrameError(frame));
        else p.resolve(frame);
        // Replies are also state: let the application see them too.
      }
      this.opts.onFrame(frame);
    };
    ws.onclose = (ev) => {
      this.ready = false;
      window.clearInterval(this.pingTimer);
      for (const [ref, p] of this.pending) {
        window.clearTimeout(p.timer);
        p.reject(new Error("disconnected"));
        this.pending.delete(ref);
      }
      if (this.ws !== ws) return;
      if (this.stopped) {
        this.setState("closed");
        return;
      }
      if ((this.opts.fatalCodes ?? []).includes(ev.code)) {
        this.setState("fatal", ev.reason || String(ev.code));
        return;
      }
      this.setState("closed", ev.reason);
      this.attempts++;
      const delay = Math.min(10000, 500 * 2 ** Math.min(this.attempts - 1, 5)) * (0.8 + Math.random() * 0.4);
      this.retryTimer = window.setTimeout(() => this.connect(), delay);
    };
  }

  /** Send without waiting for a reply; false when not connected. */
  send(frame: Frame): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || (!this.ready && frame.type !== "hello")) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Send and wait for the frame that carries our ref (an error frame rejects with FrameError). */
  request(frame: Frame, timeoutMs = 15000): Promise<Frame> {
    const ref = `r${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...frame, ref })) {
        reject(new Error("disconnected"));
        return;
      }
      const timer = window.setTimeout(() => {
        this.pending.delete(ref);
        reject(new Error("timeout"));
      }, timeoutMs);
      this.pending.set(ref, { resolve, reject, timer });
    });
  }
}

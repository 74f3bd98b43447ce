// /widget.js — the one script tag a tenant puts on his pages:
//   <script src="https://kefu.example.com/widget.js" data-key="wk_…" async></script>
// It adds a chat button (in a shadow root, untouched by the page's CSS) and, on click, a panel with an iframe
// of /widget/?key=… served by kefu. On a phone the panel takes the whole screen. No dependencies.
interface WidgetConfig {
  title: string | null;
  colour: string | null;
  position: string | null;
  enabled: boolean;
}

(() => {
  const script = (document.currentScript ||
    document.querySelector('script[src*="widget.js"][data-key]')) as HTMLScriptElement | null;
  if (!script) return;
  const key = script.dataset.key || "";
  const lang = script.dataset.lang || document.documentElement.lang || navigator.language || "zh-CN";
  const base = new URL(script.src, location.href).origin;
  const w = window as unknown as { KefuWidget?: unknown };
  if (w.KefuWidget) return;
  const openKey = `kefu-widget-open.${key}`;

  const host = document.createElement("div");
  host.id = "kefu-widget";
  const root = host.attachShadow({ mode: "open" });
  const style = document.createElement("style");
  root.appendChild(style);
  const button = document.createElement("button");
  button.className = "btn";
  button.type = "button";
  button.setAttribute("part", "button");
  button.innerHTML =
    '<svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true"><path fill="currentColor" d="M12 3C6.5 3 2 6.6 2 11c0 2.4 1.3 4.6 3.4 6.1L4.6 21l4.1-2.2c1 .3 2.1.4 3.3.4 5.5 0 10-3.6 10-8.1S17.5 3 12 3zm-4 9.2a1.2 1.2 0 1 1 0-2.4 1.2 1.2 0 0 1 0 2.4zm4 0a1.2 1.2 0 1 1 0-2.4 1.2 1.2 0 0 1 0 2.4zm4 0a1.2 1.2 0 1 1 0-2.4 1.2 1.2 0 0 1 0 2.4z"/></svg><span class="badge" hidden></span>';
  const panel = document.createElement("div");
  panel.className = "panel";
  panel.hidden = true;
  root.append(button, panel);
  const badge = button.querySelector(".badge") as HTMLSpanElement;
  let frame: HTMLIFrameElement | null = null;

  function paint(cfg: WidgetConfig | null): void {
    const colour = cfg?.colour || "#1677ff";
    const side = cfg?.position === "left" ? "left" : "right";
    button.setAttribute("aria-label", cfg?.title || "在线客服");
    button.title = cfg?.title || "在线客服";
    style.textContent = `
      :host { all: initial; }
      .btn { position: fixed; ${side}: 24px; bottom: 24px; width: 60px; height: 60px; border-radius: 50%; border: 0;
        background: ${colour}; color: #fff; box-shadow: 0 6px 20px rgba(0,0,0,.22); cursor: pointer; z-index: 2147483000;
        display: grid; place-items: center; transition: transform .15s; }
      .btn:hover { transform: scale(1.06); }
      .badge { position: absolute; top: -2px; right: -2px; min-width: 20px; height: 20px; padding: 0 5px; border-radius: 10px;
        background: #f5222d; color: #fff; font: 600 12px/20px -apple-system, sans-serif; text-align: center; }
      .panel { position: fixed; ${side}: 24px; bottom: 96px; width: 380px; height: min(640px, calc(100vh - 120px));
        border-radius: 14px; overflow: hidden; box-shadow: 0 12px 40px rgba(0,0,0,.25); z-index: 2147483001; background: #fff; }
      .panel iframe { width: 100%; height: 100%; border: 0; display: block; }
      @media (max-width: 480px) {
        .panel { left: 0; right: 0; top: 0; bottom: 0; width: 100%; height: 100%; border-radius: 0; }
        .btn { ${side}: 16px; bottom: 16px; }
      }`;
  }

  function open(): void {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.title = button.title;
      frame.allow = "clipboard-write";
      frame.src = `${base}/widget/?key=${encodeURIComponent(key)}&lang=${encodeURIComponent(lang)}&embed=1`;
      frame.addEventListener("load", () => frame?.contentWindow?.postMessage({ kefu: "opened" }, base));
      panel.appendChild(frame);
    } else {
      frame.contentWindow?.postMessage({ kefu: "opened" }, base);
    }
    panel.hidden = false;
    badge.hidden = true;
    if (window.matchMedia("(max-width: 480px)").matches) button.style.display = "none";
    try {
      sessionStorage.setItem(openKey, "1");
    } catch {
      /* storage may be blocked */
    }
  }

  function close(): void {
    panel.hidden = true;
    button.style.display = "";
    frame?.contentWindow?.postMessage({ kefu: "closed" }, base);
    try {
      sessionStorage.removeItem(openKey);
    } catch {
      /* storage may be blocked */
    }
  }

  button.addEventListener("click", () => (panel.hidden ? open() : close()));
  window.addEventListener("message", (ev: MessageEvent) => {
    if (ev.origin !== base || !frame || ev.source !== frame.contentWindow || !ev.data) return;
    if (ev.data.kefu === "close") close();
    if (ev.data.kefu === "unread") {
      const n = Number(ev.data.count) || 0;
      badge.textContent = n > 99 ? "99+" : String(n);
      badge.hidden = n === 0 || !panel.hidden;
    }
  });

  paint(null);
  const mount = () => document.body.appendChild(host);
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
  w.KefuWidget = { open, close };

  fetch(`${base}/api/v1/widget/${encodeURIComponent(key)}/config`)
    .then((r) => (r.ok ? r.json() : null))
    .then((cfg: WidgetConfig | null) => {
      if (cfg && cfg.enabled === false) {
        host.remove();
        return;
      }
      paint(cfg);
      let reopen = false;
      try {
        reopen = sessionStorage.getItem(openKey) === "1";
      } catch {
        reopen = false;
      }
      if (reopen) open();
    })
    .catch(() => undefined);
})();

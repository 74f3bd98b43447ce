// The offer chime, made with WebAudio (no sound file to download), and the desktop notification.
let ctx: AudioContext | null = null;

export function unlockAudio(): void {
  try {
    ctx = ctx ?? new AudioContext();
    if (ctx.state === "suspended") void ctx.resume();
  } catch {
    ctx = null;
  }
}

export function chime(): void {
  try {
    ctx = ctx ?? new AudioContext();
    const t0 = ctx.currentTime + 0.01;
    [880, 1318.5, 1760].forEach((freq, i) => {
      const osc = ctx!.createOscillator();
      const gain = ctx!.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      const start = t0 + i * 0.14;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.25, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.3);
      osc.connect(gain).connect(ctx!.destination);
      osc.start(start);
      osc.stop(start + 0.32);
    });
  } catch {
    /* no audio device: the badge and the notification remain */
  }
}

export function notify(title: string, body: string, onClick: () => void): void {
  if (!("Notification" in window) || Notification.permission !== "granted" || document.hasFocus()) return;
  const n = new Notification(title, { body, tag: "kefu-offer" });
  n.onclick = () => {
    window.focus();
    onClick();
    n.close();
  };
}

export function canAskNotifications(): boolean {
  return "Notification" in window && Notification.permission === "default";
}

export async function askNotifications(): Promise<void> {
  if ("Notification" in window) await Notification.requestPermission();
}

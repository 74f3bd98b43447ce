// Data kefu puts into a page when it serves it (kefu/web.py): the demo tenant's logins and widget key.
export interface DemoLogin {
  role: string;
  username: string;
  name: string;
}

export interface Boot {
  version?: string;
  demo?: { tenant: string; password: string; widget_key: string; logins: DemoLogin[] } | null;
}

export function boot(): Boot {
  const el = document.getElementById("kefu-boot");
  if (!el?.textContent) return {};
  try {
    return JSON.parse(el.textContent) as Boot;
  } catch {
    return {};
  }
}

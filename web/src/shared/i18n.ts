import { createI18n } from "vue-i18n";
import { messages } from "./messages";

export type Lang = "zh-CN" | "en";

export function pickLang(explicit?: string | null): Lang {
  const wanted = explicit || localStorage.getItem("kefu.lang") || "zh-CN";
  return wanted.toLowerCase().startsWith("en") ? "en" : "zh-CN";
}

export function makeI18n(explicit?: string | null) {
  const locale = pickLang(explicit);
  document.documentElement.lang = locale;
  return createI18n({ legacy: false, locale, fallbackLocale: "zh-CN", messages });
}

export function saveLang(lang: Lang): void {
  localStorage.setItem("kefu.lang", lang);
  document.documentElement.lang = lang;
}

// Element Plus apps (workspace, admin) share this setup: i18n, Element Plus with the matching locale.
import { createApp, type Component } from "vue";
import ElementPlus from "element-plus";
import "element-plus/dist/index.css";
import { makeI18n } from "./i18n";
import "./page.css";

export function mountElementApp(root: Component): void {
  const app = createApp(root);
  app.use(makeI18n());
  app.use(ElementPlus);
  app.mount("#app");
}

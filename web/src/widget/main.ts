import { createApp } from "vue";
import { makeI18n } from "../shared/i18n";
import WidgetApp from "./WidgetApp.vue";
import "./widget.css";

const params = new URLSearchParams(location.search);
const app = createApp(WidgetApp, { widgetKey: params.get("key") || "", embedded: params.get("embed") === "1" });
app.use(makeI18n(params.get("lang") || navigator.language));
app.mount("#app");

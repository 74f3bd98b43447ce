import { createApp } from "vue";
import { makeI18n } from "../shared/i18n";
import Landing from "./Landing.vue";
import "../shared/page.css";

createApp(Landing).use(makeI18n()).mount("#app");

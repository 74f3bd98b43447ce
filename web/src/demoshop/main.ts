import { createApp } from "vue";
import { makeI18n } from "../shared/i18n";
import DemoShop from "./DemoShop.vue";
import "../shared/page.css";

createApp(DemoShop).use(makeI18n()).mount("#app");

import { mountElementApp } from "../shared/elementApp";
import AdminRoot from "./AdminRoot.vue";

mountElementApp(AdminRoot);

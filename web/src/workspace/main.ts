import { mountElementApp } from "../shared/elementApp";
import WorkspaceRoot from "./WorkspaceRoot.vue";
import "./workspace.css";

mountElementApp(WorkspaceRoot);

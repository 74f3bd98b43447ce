// Multi-page build of the kefu front end into ../kefu/static (served by kefu itself, see kefu/web.py):
// /  (landing), /demo-shop (widget test page), /widget/ (the chat panel inside the loader's iframe),
// /workspace/ (agents) and /admin/ (administrators, supervisors). Hashed files land in /assets/.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import vue from "@vitejs/plugin-vue";

const here = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root: here,
  base: "/",
  plugins: [vue()],
  build: {
    outDir: resolve(here, "../kefu/static"),
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      input: {
        landing: resolve(here, "index.html"),
        demoshop: resolve(here, "demo-shop/index.html"),
        widget: resolve(here, "widget/index.html"),
        workspace: resolve(here, "workspace/index.html"),
        admin: resolve(here, "admin/index.html"),
      },
      output: {
        manualChunks(id: string) {
          if (id.includes("node_modules/element-plus") || id.includes("node_modules/@element-plus")) return "element-plus";
          if (id.includes("node_modules/echarts") || id.includes("node_modules/zrender")) return "echarts";
          return undefined;
        },
      },
    },
  },
  server: { proxy: { "/api": "http://127.0.0.1:8000", "/ws": { target: "ws://127.0.0.1:8000", ws: true } } },
});

// The one-script-tag loader (/widget.js): a tiny IIFE with no dependencies, stable file name.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root: here,
  build: {
    outDir: resolve(here, "../kefu/static"),
    emptyOutDir: false,
    lib: { entry: resolve(here, "src/loader/widget-loader.ts"), formats: ["iife"], name: "KefuWidgetLoader", fileName: () => "widget.js" },
  },
});

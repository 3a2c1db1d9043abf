import { defineConfig } from "vite";

// The API server the dev server proxies to (`npm run dev`); `cairn server` serves the
// built `dist/` itself, so this only matters while developing.
const api = process.env.CAIRN_SERVER ?? "http://127.0.0.1:8420";

export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      "/api": { target: api, changeOrigin: false },
      "/healthz": { target: api, changeOrigin: false },
    },
  },
});

/// <reference types="vitest/config" />
// The GUI is built into the Python package, where FlowUI's server serves it at "/".
// `npm run dev` serves it with hot reload and sends /api to a running server (`flowui up`).
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const server = process.env.FLOWUI_SERVER_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "../src/flowui/server/static", emptyOutDir: true },
  server: { proxy: { "/api": server } },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test-setup.ts"],
    // @rjsf/mantine imports "dayjs/plugin/x" without ".js", which Node's ESM loader refuses:
    // let Vite resolve it instead.
    server: { deps: { inline: [/@rjsf\/mantine/] } },
  },
});

import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { readFile } from "node:fs/promises";
import { type ViteUserConfig, defineConfig } from "vitest/config";

export const TEST_ADMIN_TOKEN = "test-admin-token";
export const TEST_WEBHOOK_SIGNING_KEY = "test-webhook-signing-key-0123456789";
export const TEST_CONSOLE_URL = "https://console.lab.example/console";

// This file runs in Node; the project's types are the Workers runtime's, without Node's.
declare const process: { env: Record<string, string | undefined> };

// wrangler.toml declares ADMIN_TOKEN a required secret; for a local run wrangler
// reads secrets from .dev.vars, else .env files and the environment. The tests
// provide it through the environment, so a fresh clone (no .dev.vars) satisfies
// the declaration without a file. The binding below pins the value whichever
// source wrangler read, so `npm start`'s .dev.vars cannot change the tests' token.
process.env.ADMIN_TOKEN = TEST_ADMIN_TOKEN;
process.env.WEBHOOK_SIGNING_KEY = TEST_WEBHOOK_SIGNING_KEY;
// Wrangler logs at "log" level which file or environment it took secrets from,
// once per test file; warnings and errors still show. WRANGLER_LOG=debug overrides.
process.env.WRANGLER_LOG ??= "warn";

/**
 * standardwebhooks ships a source map that names sources it does not ship, and
 * Vite warns about it the first time a run loads the package. Loaded without
 * the map's comment, the package runs the same and the run stays quiet.
 */
const withoutDanglingSourceMaps = {
  name: "without-dangling-source-maps",
  enforce: "pre" as const,
  async load(id: string) {
    if (!/\/node_modules\/standardwebhooks\/dist\/[^?]+\.js$/.test(id)) return null;
    return (await readFile(id, "utf8")).replace(/^\/\/# sourceMappingURL=\S+\s*$/m, "");
  },
};

export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  const config: ViteUserConfig = {
    test: {
      // Console output of passing tests (the watcher's structured logs) stays out of the report.
      silent: "passed-only",
      projects: [
        {
          // The pure core in plain Node: a Workers import (cloudflare:*, a
          // Workers-only global) anywhere under a unit test fails this project.
          // The tree draws the same line: src/procedure/*.ts is the core (every
          // one loaded here by test/unit/procedure/purity.test.ts) and
          // src/procedure/object/ the Durable Object's shell, tested only in
          // the workers project below.
          test: {
            name: "core",
            environment: "node",
            // Chosen, not defaulted: each file in a fresh worker, so no file can lean on another's module state.
            isolate: true,
            include: ["test/unit/**/*.test.ts"],
            // Property tests run a fixed number of cases; on a busy machine
            // (this project runs beside the Workers pool) they can pass 5 s.
            // Speed is the benchmarks' business, so the guard is generous.
            testTimeout: 30_000,
          },
        },
        {
          // Routes, objects and D1 in the Workers runtime (workerd via Miniflare).
          plugins: [
            withoutDanglingSourceMaps,
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  ADMIN_TOKEN: TEST_ADMIN_TOKEN,
                  WEBHOOK_SIGNING_KEY: TEST_WEBHOOK_SIGNING_KEY,
                  TEST_MIGRATIONS: migrations,
                  // Slack messages link here, whatever host a request named.
                  PUBLIC_CONSOLE_URL: TEST_CONSOLE_URL,
                  // The tests' own host and a page allowed to call /mcp (test/integration/mcp.test.ts).
                  MCP_ALLOWED_HOSTS: "procedure-edge.test",
                  MCP_ALLOWED_ORIGINS: "https://console.procedure-edge.test",
                },
                // Tests reach no network: a webhook delivery the local queue runs
                // on its own (to a test subscription's made-up host) gets this
                // answer, not a failed DNS look-up logged by the runtime. Tests
                // that check deliveries answer them through their own fetch spy.
                outboundService: () => new Response("tests reach no network", { status: 503 }),
              },
            }),
          ],
          test: {
            name: "workers",
            isolate: true,
            include: ["test/integration/**/*.test.ts"],
            setupFiles: ["./test/setup.ts"],
            sequence: { groupOrder: 0 },
          },
        },
        {
          // The console in Chromium against wrangler dev (test/browser/service.ts),
          // after the workers project: both at once starve each other's timeouts.
          test: {
            name: "browser",
            sequence: { groupOrder: 1 },
            include: ["test/browser/**/*.test.ts"],
            environment: "node",
            testTimeout: 60_000,
            hookTimeout: 180_000,
          },
        },
      ],
    },
  };
  return config;
});

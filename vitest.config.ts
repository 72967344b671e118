import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { configDefaults, defineConfig } from "vitest/config";

export const TEST_ADMIN_TOKEN = "test-admin-token";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  return {
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: { ADMIN_TOKEN: TEST_ADMIN_TOKEN, TEST_MIGRATIONS: migrations },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/**/*.test.ts"],
            exclude: [...configDefaults.exclude, "test/browser/**"],
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
});

// npm run lint:openapi: starts the service locally (wrangler dev, throw-away
// state), writes the OpenAPI document it serves to a temporary file and lints
// it with Redocly's recommended rules; exits non-zero on any error.
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, startServer } from "../bench/lib.mjs";

const server = await startServer({ config: join(ROOT, "wrangler.toml") });
const dir = await mkdtemp(join(tmpdir(), "procedure-edge-openapi-"));
let status = 1;
try {
  const response = await fetch(`${server.baseUrl}/openapi.json`);
  if (!response.ok) throw new Error(`/openapi.json answered ${response.status}`);
  const file = join(dir, "openapi.json");
  await writeFile(file, JSON.stringify(await response.json(), null, 2));
  const redocly = join(ROOT, "node_modules", "@redocly", "cli", "bin", "cli.js");
  status = spawnSync(process.execPath, [redocly, "lint", file, ...process.argv.slice(2)], {
    stdio: "inherit",
    cwd: ROOT,
    env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
  }).status ?? 1;
} finally {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
process.exit(status);

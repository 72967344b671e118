// Serves the Worker locally for a test suite in another language (the Python
// client's): the service's own wrangler.toml, as `npm start` serves it, but on
// a free port, with throw-away state and a fresh admin token. Prints one JSON
// line `{"base_url", "token"}` once /healthz answers, then serves until its
// stdin closes (the suite ended, or died) or it gets SIGTERM/SIGINT, and
// removes the state.
//
//   node scripts/serve-local.mjs [--verbose]
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { prepareService, ROOT, serveService } from "../bench/lib.mjs";

const verbose = process.argv.includes("--verbose");

// The console and /docs assets the configuration serves, as `npm start` builds them.
const assets = spawnSync(process.execPath, [join(ROOT, "scripts", "build-assets.mjs")], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
if (assets.status !== 0) process.exit(assets.status ?? 1);

const prepared = await prepareService({ config: join(ROOT, "wrangler.toml"), verbose });
let server;
try {
  server = await serveService(prepared, { verbose });
} catch (error) {
  await prepared.remove();
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}

let stopping = null;
const stop = () => {
  stopping ??= (async () => {
    await server.stop();
    await prepared.remove();
    process.exit(0);
  })();
  return stopping;
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();

process.stdout.write(`${JSON.stringify({ base_url: server.baseUrl, token: server.token })}\n`);

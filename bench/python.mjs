// `npm run bench:python`: what the Python client costs, in one run on one
// service (bench/python_client.py prints the tables):
// - entries per second through the Python activity writer beside raw ingest
//   (pre-built batches of 500 posted with httpx, one batch in flight per
//   procedure), for one procedure and for several; aim: within 1.3x;
// - the Bluesky recorder's overhead on a 1,000-point scan of ophyd.sim
//   devices, beside the same scan without it.
//
//   npm run bench:python -- [--url URL --token ADMIN_TOKEN] [--batches N] [--procedures P] [--points N] [--repeats R]
// Without --url it starts the bench service itself (as `npm run bench` does).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT, startServer } from "./lib.mjs";

const { values, tokens } = parseArgs({
  options: { url: { type: "string" }, token: { type: "string" } },
  strict: false,
  tokens: true,
});
const passOn = tokens
  .filter((t) => !(t.kind === "option" && (t.name === "url" || t.name === "token")))
  .flatMap((t) => (t.kind === "option" ? [t.rawName, ...(t.value === undefined ? [] : [t.value])] : t.kind === "positional" ? [t.value] : []));

const server = values.url ? null : await startServer();
let status = 1;
try {
  const url = values.url ?? server.baseUrl;
  const token = values.token ?? server.token;
  const run = spawnSync(
    process.execPath,
    [join(ROOT, "scripts", "python.mjs"), "run", join(ROOT, "bench", "python_client.py"), "--url", url, "--token", token, ...passOn],
    { cwd: ROOT, stdio: "inherit" },
  );
  status = run.status ?? 1;
} finally {
  await server?.stop();
}
process.exit(status);

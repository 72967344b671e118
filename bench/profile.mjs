// Where a request's CPU goes inside the Worker: starts the bench service,
// attaches to its inspector (the DevTools protocol wrangler dev exposes),
// samples the V8 profiler while it drives one scenario, and prints the
// functions with the most samples, by their own time and with their callees.
//
//   npm run bench:profile -- [--scenario hold-many|hold-one|ingest|bare] [--requests N] [--top N]
//                            [--telemetry on|off]
//
// The profile is of workerd's isolate (the Worker and its Durable Objects);
// the runtime's own C++ work shows as "(program)" and the collector as
// "(garbage collector)". Figures go to stdout only.
import { parseArgs } from "node:util";
import { inserter } from "./baseline.mjs";
import { batchEntries } from "./ingest.mjs";
import { holdOrResume, startProcedures } from "./lifecycle.mjs";
import { client, drive, optionReader, startServer } from "./lib.mjs";

const USAGE = `usage: npm run bench:profile -- [options]
  --scenario NAME      hold-many (hold/resume over --procedures), hold-one (one procedure), ingest (batches of 500),
                       bare (the baseline's one insert, to set beside hold-one)
                                                                          (default hold-many)
  --procedures N       procedures the hold-many and ingest scenarios spread over   (default 100)
  --requests N         requests sampled, after 200 unsampled               (default 2000)
  --top N              rows per list                                       (default 40)
  --telemetry on|off   the service's log lines and metrics (TELEMETRY_ENABLED)     (default on)

Prints two lists, each as a share of all samples of workerd's isolate while the
requests ran: by a function's own time, and with its callees. "worker.js:N" is
a line of the bundled Worker; \`npx wrangler deploy --dry-run --outdir DIR -c
bench/wrangler.bench.toml\` writes the same bundle to read it. "(program)" is
the runtime's own work, "(idle)" time with nothing to run, "exec" SQLite.`;

const { values: args } = parseArgs({
  options: {
    help: { type: "boolean", short: "h", default: false },
    scenario: { type: "string" },
    requests: { type: "string" },
    top: { type: "string" },
    telemetry: { type: "string" },
    procedures: { type: "string" },
  },
});
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
let SCENARIO, REQUESTS, TOP, PROCEDURES, TELEMETRY;
try {
  const { int, choice } = optionReader(args);
  SCENARIO = choice("scenario", null, "hold-many", ["hold-many", "hold-one", "ingest", "bare"]);
  REQUESTS = int("requests", null, 2000, 1);
  TOP = int("top", null, 40, 1);
  PROCEDURES = SCENARIO === "hold-one" || SCENARIO === "bare" ? 1 : int("procedures", null, 100, 1);
  TELEMETRY = choice("telemetry", null, "on", ["on", "off"]);
} catch (error) {
  console.error(`bench:profile: ${error.message}\n\n${USAGE}`);
  process.exit(2);
}

/** A DevTools protocol session over the inspector's WebSocket. */
async function inspect(port) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl) ?? null;
  if (!target) throw new Error(`no inspector target on port ${port}`);
  // The inspector proxy wants an Origin it allows (localhost), as a browser's DevTools would send.
  const socket = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: "http://localhost" } });
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", reject, { once: true });
  });
  let id = 0;
  const pending = new Map();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data));
    const waiting = message.id === undefined ? null : pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.error) waiting.reject(new Error(`${message.error.message}`));
    else waiting.resolve(message.result);
  });
  return {
    send(method, params = {}) {
      const call = { id: ++id, method, params };
      return new Promise((resolve, reject) => {
        pending.set(call.id, { resolve, reject });
        socket.send(JSON.stringify(call));
      });
    },
    close: () => socket.close(),
  };
}

async function scenario(call, baseUrl) {
  if (SCENARIO === "bare") {
    const insert = inserter(baseUrl);
    return (n) => drive(n, 16, () => insert("one"));
  }
  const ids = await startProcedures(call, PROCEDURES, 8);
  if (SCENARIO === "ingest") {
    return (n) => drive(n, 4, (i) => call("POST", `/v1/procedures/${ids[i % ids.length]}/activities`, { entries: batchEntries(i) }));
  }
  let turn = 0;
  return (n) => {
    const start = turn;
    turn += n;
    return drive(n, 16, (i) => holdOrResume(call, ids[(start + i) % ids.length], Math.floor((start + i) / ids.length)));
  };
}

/** Self and total samples per function (name, file, line), from a V8 CPU profile. */
function summarize(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const key = ({ callFrame: f }) => `${f.functionName || "(anonymous)"} ${f.url.split("/").at(-1) || ""}:${f.lineNumber + 1}`;
  const self = new Map();
  const total = new Map();
  let all = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    all += hits;
    self.set(key(node), (self.get(key(node)) ?? 0) + hits);
    // Each function on the stack once, however often it recurses.
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const k = key(byId.get(id));
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + hits);
    }
  }
  return { self, total, all };
}

function print(title, counts, all) {
  console.log(`\n${title}`);
  const rows = [...counts].sort((a, b) => b[1] - a[1]).slice(0, TOP);
  for (const [name, hits] of rows) console.log(`${((100 * hits) / all).toFixed(1).padStart(6)}%  ${name}`);
}

// The profiler is reached through the inspector: this run serves with it.
const server = await startServer({ inspector: true, vars: { TELEMETRY_ENABLED: String(TELEMETRY === "on") } });
try {
  const run = await scenario(client(server.baseUrl, server.token), server.baseUrl);
  await run(Math.min(200, REQUESTS));
  const session = await inspect(server.inspectorPort);
  await session.send("Profiler.enable");
  await session.send("Profiler.setSamplingInterval", { interval: 200 });
  await session.send("Profiler.start");
  const started = performance.now();
  await run(REQUESTS);
  const { profile } = await session.send("Profiler.stop");
  session.close();
  const seconds = (performance.now() - started) / 1000;
  const { self, total, all } = summarize(profile);
  console.log(`profile: ${SCENARIO}, ${REQUESTS} requests over ${PROCEDURES} procedures in ${seconds.toFixed(1)} s, ${all} samples (shares below are of all of them)`);
  print("by own time (self):", self, all);
  print("with callees (total):", total, all);
} finally {
  await server.stop();
}

// npm run crash: serves the service (wrangler.toml, bundled once) with
// persisted local state, drives concurrent lifecycle commands and activity
// batches over many procedures, kills the runtime (wrangler and workerd, the
// whole process group) with SIGKILL at seeded random moments, restarts it on
// the same state, and once the load is done and the runtime killed and
// restarted one last time, checks what was acknowledged:
//
//   - every command and every activity entry answered with a 2xx is in the
//     procedure's event log or logbook, exactly once (lost and duplicated: 0);
//   - each procedure's state equals the fold of its log (src/procedure/state.ts,
//     bundled with esbuild), and its versions are contiguous from 1;
//   - the list (GET /v1/procedures, the D1 projection) converges to the
//     objects' states within CONVERGENCE_LIMIT_MS;
//   - archiving loses nothing: with ARCHIVE_AFTER_SECONDS=1 the Cron Trigger
//     is fired and the runtime SIGKILLed while the objects archive themselves
//     (export, write, verify, release); once every procedure reads as archived,
//     its export (now from the archive) is the one read before, line for line
//     past the state (which adds archived_at), and the list shows archived_at.
//
// A request whose connection died may or may not have been applied; the
// checks allow both, but never twice. Gateways retry a batch with the same
// event ids until it is acknowledged, registrations carry an Idempotency-Key,
// and other commands are not retried: the driver reads the state instead.
//
//   npm run crash -- [--seed N] [--procedures P] [--kills K] [--verbose] [--keep]
//
// Exits 0 when every check holds, 1 otherwise. Kill moments and the load's
// choices come from the seed; the checks do not depend on the timing.
import { build } from "esbuild";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { freePort, prepareService, ROOT, serveService, uuidv7 } from "../bench/lib.mjs";

const CONVERGENCE_LIMIT_MS = 30_000;
/**
 * The whole run gives up after this long, so a hung runtime cannot hang CI. A
 * run takes two to three minutes on a busy 2-core machine, mostly the restarts.
 */
const RUN_LIMIT_MS = 420_000;
/** Steps pinned by each conducted procedure. */
const CONDUCTED_STEPS = 60;
/** Lifecycle or batch operations each operator-driven procedure performs at least. */
const MIN_OPERATIONS = 12;
const PAGE = 100;
/** How long archiving may take, kills and restarts included, before the run fails. */
const ARCHIVE_LIMIT_MS = 90_000;
/** Acknowledgements after each (re)start before a kill may fall. */
const LOAD_BEFORE_KILL = 30;

// ---- options and randomness -------------------------------------------------

const { values: args } = parseArgs({
  options: {
    seed: { type: "string", default: process.env.CRASH_SEED ?? "7" },
    procedures: { type: "string", default: "20" },
    kills: { type: "string", default: "4" },
    verbose: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
});
const seed = Number(args.seed);
const procedureCount = Number(args.procedures);
const killCount = Number(args.kills);
for (const [name, value, min] of [["seed", seed, 0], ["procedures", procedureCount, 2], ["kills", killCount, 1]]) {
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer >= ${min}`);
}

/** mulberry32: a small seeded PRNG; answers floats in [0, 1). */
function random(seedValue) {
  let a = seedValue >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const between = (rng, lo, hi) => lo + Math.floor(rng() * (hi - lo + 1));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line) => console.log(`crash: ${line}`);

// ---- the runtime, its kills and the requests' outcomes -------------------------

let server = null;
let up = null; // a promise resolved while the runtime serves
let markUp = () => {};
function markDown() {
  up = new Promise((resolve) => (markUp = resolve));
}

const CONNECTION_REFUSED = new Set(["ECONNREFUSED"]);

/**
 * One HTTP exchange. Answers {kind: "ok" | "refused", status, json} for a reply,
 * {kind: "down"} when the connection was refused (the request never reached the
 * runtime, so it can be sent again), or {kind: "unknown"} when the exchange
 * broke after it was sent (the runtime was killed meanwhile) or the runtime
 * answered 5xx: it may or may not have been applied.
 */
async function exchange(method, path, body, token, headers = {}) {
  const init = { method, headers: { authorization: `Bearer ${token}`, ...headers }, signal: AbortSignal.timeout(20_000) };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  let text;
  try {
    res = await fetch(server.baseUrl + path, init);
    text = await res.text();
  } catch (error) {
    const code = error.cause?.code ?? error.code;
    return { kind: CONNECTION_REFUSED.has(code) ? "down" : "unknown", error: code ?? error.message };
  }
  const json = text ? JSON.parse(text) : null;
  if (res.status >= 500) return { kind: "unknown", status: res.status, json };
  return { kind: res.ok ? "ok" : "refused", status: res.status, json, retryAfter: res.headers.get("retry-after") };
}

/**
 * Sends until the request reaches a runtime and is not rate limited: answers
 * ok, refused or unknown. A 429 wrote nothing, so it is sent again after the
 * Retry-After the service named, as any client would.
 */
async function send(method, path, body, token, headers) {
  for (;;) {
    await up;
    const result = await exchange(method, path, body, token, headers);
    if (result.status === 429) {
      stats.limited += 1;
      await sleep(1000 * Number(result.retryAfter ?? 1));
      continue;
    }
    if (result.kind !== "down") return result;
    // Refused connections come between a kill and its restart; `up` is pending by then.
    await sleep(50);
  }
}

/** Sends until acknowledged; for requests that are safe to repeat. */
async function sendUntilAcked(method, path, body, token, headers) {
  for (;;) {
    const result = await send(method, path, body, token, headers);
    if (result.kind === "ok") return result;
    if (result.kind === "refused") {
      throw new Error(`${method} ${path} refused with ${result.status}: ${JSON.stringify(result.json)}`);
    }
    stats.unknown += 1;
    await sleep(50);
  }
}

// ---- the load -----------------------------------------------------------------

const stats = { commands: 0, entries: 0, unknown: 0, refused: 0, limited: 0 };
const runKind = `crash-${seed}`;
let tokens;
let killsDone = false;

function entry(stepKind, payload) {
  return { event_id: uuidv7(), step_kind: stepKind, payload, sampled_at: new Date().toISOString() };
}

/** The procedure's state, read until the runtime answers. */
async function readState(p) {
  return (await sendUntilAcked("GET", `/v1/procedures/${p.id}`, undefined, tokens.operator)).json;
}

/**
 * A lifecycle command, sent once. Acknowledged: recorded with the version it
 * answered. Unknown: the state is read back instead of retrying.
 */
async function command(p, name, body, expected) {
  const result = await send("POST", `/v1/procedures/${p.id}/${name}`, body, tokens.operator);
  if (result.kind === "ok") {
    p.acked.push({ name, expected, version: result.json?.version ?? null, reason: body?.reason ?? null });
    stats.commands += 1;
    return result.json;
  }
  if (result.kind === "refused") stats.refused += 1;
  else stats.unknown += 1;
  if (body?.reason) p.unacknowledgedReasons.push(body.reason);
  return readState(p);
}

/** A batch of entries, posted as a gateway and repeated with the same ids until acknowledged. */
async function batch(p, entries) {
  for (const e of entries) p.sent.add(e.event_id);
  const result = await sendUntilAcked("POST", `/v1/procedures/${p.id}/activities`, { entries }, tokens.gateway);
  const { event_count, duplicate_count } = result.json;
  if (event_count + duplicate_count !== entries.length) {
    p.violations.push(`batch of ${entries.length} answered ${event_count} new + ${duplicate_count} duplicates`);
  }
  for (const e of entries) p.ackedEntries.add(e.event_id);
  stats.entries += entries.length;
}

async function register(p) {
  const body = { name: p.name, kind: runKind, target_asset_ids: ["crash-rig"] };
  const result = await sendUntilAcked("POST", "/v1/procedures", body, tokens.operator, { "idempotency-key": p.key });
  p.id = result.json.procedure_id;
  p.acked.push({ name: "register", expected: "ProcedureRegistered", version: result.json.version });
  stats.commands += 1;
}

/** Started without conduct: free-form entries, holds and resumes, then complete. */
async function operatorDriven(p) {
  let state = await readState(p);
  while (state.status === "Defined") state = await command(p, "start", undefined, "ProcedureStarted");
  for (let op = 0; !killsDone || op < MIN_OPERATIONS; op++) {
    if (state.status === "Held") {
      state = await command(p, "resume", { re_establishment_boundary: 0 }, "ProcedureResumed");
    } else if (p.rng() < 0.3) {
      state = await command(p, "hold", { reason: `crash hold ${p.index}.${op} ${uuidv7()}` }, "ProcedureHeld");
    } else {
      await batch(p, Array.from({ length: between(p.rng, 1, 20) }, (_, k) => entry("note", { op, k })));
    }
  }
  if (state.status === "Held") state = await command(p, "resume", { re_establishment_boundary: 0 }, "ProcedureResumed");
  while (state.status === "Running") state = await command(p, "complete", undefined, "ProcedureCompleted");
}

/** Conducted: a pinned manifest reported step by step; the last ok completes it. */
async function conducted(p) {
  const steps = Array.from({ length: CONDUCTED_STEPS }, (_, i) => ({ kind: "setpoint", address: `rig.axis${i % 4}`, value: i, verify: true }));
  let state = await readState(p);
  while (state.status === "Defined") {
    const result = await send("POST", `/v1/procedures/${p.id}/conduct`, { steps, on_failure: "abort" }, tokens.operator);
    if (result.kind === "ok") {
      p.acked.push({ name: "conduct", expected: "ResolvedStepsRecorded", version: null });
      stats.commands += 1;
    } else if (result.kind === "refused") {
      throw new Error(`conduct refused with ${result.status}: ${JSON.stringify(result.json)}`);
    } else stats.unknown += 1;
    state = await readState(p);
  }
  let next = 0;
  while (next < CONDUCTED_STEPS) {
    const count = killsDone ? Math.min(50, CONDUCTED_STEPS - next) : Math.min(between(p.rng, 1, 3), CONDUCTED_STEPS - next);
    const entries = [];
    for (let i = next; i < next + count; i++) {
      entries.push(entry("setpoint", { step_index: i, result: "in_flight" }), entry("setpoint", { step_index: i, result: "ok" }));
    }
    await batch(p, entries);
    next += count;
  }
}

async function drive(p) {
  await register(p);
  if (p.index % 2 === 0) await operatorDriven(p);
  else await conducted(p);
}

// ---- the checks ------------------------------------------------------------------

async function pages(path, token, cursorParam) {
  const items = [];
  let cursor = null;
  for (;;) {
    const sep = path.includes("?") ? "&" : "?";
    const query = cursor === null ? "" : `&${cursorParam}=${encodeURIComponent(cursor)}`;
    const result = await sendUntilAcked("GET", `${path}${sep}limit=${PAGE}${query}`, undefined, token);
    items.push(...result.json.items);
    if (!result.json.next_cursor) return items;
    cursor = cursorParam === "after" ? result.json.items.at(-1).version : result.json.next_cursor;
  }
}

/** The pure fold from src/procedure/state.ts, bundled for Node. */
async function loadFold(dir) {
  const outfile = join(dir, "fold.mjs");
  await build({ entryPoints: [join(ROOT, "src/procedure/state.ts")], bundle: true, format: "esm", platform: "node", outfile, logLevel: "error" });
  return (await import(pathToFileURL(outfile).href)).fold;
}

function count(values) {
  const counts = new Map();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

async function checkProcedure(p, fold, totals) {
  const fail = (message) => p.violations.push(message);
  const events = await pages(`/v1/procedures/${p.id}/events`, tokens.operator, "after");
  const state = await readState(p);
  const logbook = await pages(`/v1/procedures/${p.id}/activities`, tokens.operator, "cursor");

  events.forEach((e, i) => {
    if (e.version !== i + 1) fail(`event ${i + 1} has version ${e.version}: versions are not contiguous`);
  });
  const last = events.at(-1)?.version ?? 0;
  if (state.version !== last) fail(`state version ${state.version}, last event version ${last}`);

  const folded = fold(events.map(({ type, payload }) => ({ type, payload })));
  if (folded === null) fail("the log is empty");
  for (const [key, value] of Object.entries(folded ?? {})) {
    if (key in state && JSON.stringify(state[key]) !== JSON.stringify(value)) {
      fail(`state.${key} is ${JSON.stringify(state[key])}, the fold of the log gives ${JSON.stringify(value)}`);
    }
  }

  // Commands: each acknowledged one is its event, once.
  const types = count(events.map((e) => e.type));
  const reasons = count(events.filter((e) => e.type === "ProcedureHeld").map((e) => e.payload.reason));
  for (const ack of p.acked) {
    totals.acknowledged += 1;
    let found;
    let times;
    if (ack.reason) {
      times = reasons.get(ack.reason) ?? 0;
      found = times > 0 && events[ack.version - 1]?.payload.reason === ack.reason;
    } else if (ack.version !== null && ack.name !== "start" && ack.name !== "register") {
      found = events[ack.version - 1]?.type === ack.expected;
      times = found ? 1 : 0;
    } else {
      times = types.get(ack.expected) ?? 0;
      found = times > 0;
    }
    if (!found) {
      totals.lost += 1;
      fail(`acknowledged ${ack.name} (version ${ack.version}) is not in the log as ${ack.expected}`);
    }
    if (times > 1) {
      totals.duplicated += 1;
      fail(`acknowledged ${ack.name} is in the log ${times} times`);
    }
  }
  // Commands that cannot be repeated appear at most once whether acknowledged or not.
  for (const type of ["ProcedureRegistered", "ProcedureStarted", "ResolvedStepsRecorded", "ProcedureCompleted"]) {
    if ((types.get(type) ?? 0) > 1) {
      totals.duplicated += 1;
      fail(`${type} is in the log ${types.get(type)} times`);
    }
  }
  for (const reason of p.unacknowledgedReasons) {
    if ((reasons.get(reason) ?? 0) > 1) {
      totals.duplicated += 1;
      fail(`an unacknowledged hold is in the log ${reasons.get(reason)} times`);
    }
  }

  // Entries: every acknowledged id once; nothing the gateway did not send.
  const ids = count(logbook.map((e) => e.event_id));
  for (const id of p.ackedEntries) {
    totals.acknowledged += 1;
    if (!ids.has(id)) totals.lost += 1;
  }
  for (const [id, times] of ids) {
    if (times > 1) totals.duplicated += 1;
    if (!p.sent.has(id)) fail(`logbook entry ${id} was never sent`);
  }
  const lostEntries = [...p.ackedEntries].filter((id) => !ids.has(id)).length;
  if (lostEntries) fail(`${lostEntries} acknowledged entries are missing from the logbook`);
  const repeated = [...ids.values()].filter((n) => n > 1).length;
  if (repeated) fail(`${repeated} entries are in the logbook more than once`);

  const expectedStatus = "Completed";
  if (state.status !== expectedStatus) fail(`ended ${state.status}, expected ${expectedStatus}`);
  return state;
}

/** Polls the list until every procedure's row shows its object's version and status. */
async function converge(states, since) {
  const deadline = since + CONVERGENCE_LIMIT_MS;
  let mismatch = "";
  for (;;) {
    const rows = await pages(`/v1/procedures?kind=${runKind}`, tokens.operator, "cursor");
    const byId = new Map(rows.map((r) => [r.procedure_id, r]));
    mismatch = "";
    if (rows.length !== states.size) mismatch = `${rows.length} rows for ${states.size} procedures`;
    for (const [id, state] of states) {
      const row = byId.get(id);
      if (!row) mismatch ||= `${id} is not listed`;
      else if (row.version !== state.version || row.status !== state.status) {
        mismatch ||= `${id} listed at version ${row.version} ${row.status}, object at ${state.version} ${state.status}`;
      }
    }
    if (!mismatch) return { ms: Date.now() - since, mismatch: null };
    if (Date.now() > deadline) return { ms: Date.now() - since, mismatch };
    await sleep(100);
  }
}

// ---- the run ------------------------------------------------------------------------

async function restart(prepared, ports, options = {}) {
  const t0 = Date.now();
  server = await serveService(prepared, { ...ports, verbose: args.verbose, ...options });
  markUp();
  return Date.now() - t0;
}

/** Resolves once `n` more commands or entries were acknowledged, or after `timeoutMs`. */
async function acknowledgedMore(n, timeoutMs) {
  const target = stats.commands + stats.entries + n;
  const deadline = Date.now() + timeoutMs;
  while (stats.commands + stats.entries < target && Date.now() < deadline) await sleep(20);
}

async function kill(label) {
  markDown();
  await server.kill();
  log(`${label}: SIGKILL`);
}

/** Every line of a procedure's export, as text. */
async function exportLines(id) {
  for (;;) {
    await up;
    try {
      const res = await fetch(`${server.baseUrl}/v1/procedures/${id}/export`, { headers: { authorization: `Bearer ${tokens.operator}` }, signal: AbortSignal.timeout(20_000) });
      const text = await res.text();
      if (res.status === 200) return text.split("\n").filter((line) => line !== "");
    } catch {
      // killed meanwhile: read again
    }
    await sleep(100);
  }
}

/** Fires the Cron Trigger once (wrangler dev --test-scheduled serves /cdn-cgi/handler/scheduled). */
async function fireCron() {
  await up;
  try {
    await fetch(`${server.baseUrl}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent("* * * * *")}`, { signal: AbortSignal.timeout(30_000) });
  } catch {
    // killed meanwhile: the next firing goes on
  }
}

/**
 * Archives every procedure with ARCHIVE_AFTER_SECONDS=1, killing the runtime
 * while the objects archive themselves, and checks that every export after
 * archiving is the export before it (past the state line, which adds
 * archived_at) and that the list shows archived_at.
 */
async function archiveUnderKills(prepared, ports, ids, rng) {
  const before = new Map();
  for (const id of ids) before.set(id, await exportLines(id));
  const options = { vars: { ARCHIVE_AFTER_SECONDS: "1" }, testScheduled: true };
  await sleep(1_100);
  markDown();
  await server.stop();
  await restart(prepared, ports, options);
  const started = Date.now();
  const result = { archived: 0, kills: 0, lost: 0, ms: 0, violations: [] };
  const kills = Math.max(1, Math.min(3, killCount));
  for (let k = 1; k <= kills; k++) {
    await fireCron();
    await sleep(between(rng, 20, 800));
    await kill(`kill ${k}/${kills} while archiving`);
    result.kills += 1;
    await restart(prepared, ports, options);
  }
  // Reading a procedure wakes its object, which re-arms its pending archive job.
  const pending = new Set(ids);
  while (pending.size > 0 && Date.now() - started < ARCHIVE_LIMIT_MS) {
    await fireCron();
    for (const id of [...pending]) {
      const read = await send("GET", `/v1/procedures/${id}`, undefined, tokens.operator);
      if (read.kind === "ok" && read.json.archived_at) pending.delete(id);
    }
    if (pending.size > 0) await sleep(500);
  }
  result.ms = Date.now() - started;
  result.archived = ids.length - pending.size;
  if (pending.size > 0) result.violations.push(`${pending.size} procedures were not archived within ${ARCHIVE_LIMIT_MS / 1000} s`);
  for (const id of ids) {
    if (pending.has(id)) continue;
    const now = await exportLines(id);
    const was = before.get(id);
    const state = JSON.parse(now[0]);
    if (!state.archived_at) result.violations.push(`${id}: the export's state has no archived_at`);
    if (JSON.stringify({ ...JSON.parse(was[0]), archived_at: state.archived_at }) !== now[0]) result.violations.push(`${id}: the archived state differs from the live one`);
    const kept = new Set(now.slice(1));
    const missing = was.slice(1).filter((line) => !kept.has(line)).length;
    result.lost += missing;
    if (missing > 0 || now.length !== was.length) result.violations.push(`${id}: ${missing} export lines lost (${was.length} before, ${now.length} after)`);
  }
  const rows = await pages(`/v1/procedures?kind=${runKind}`, tokens.operator, "cursor");
  const unmarked = rows.filter((row) => !pending.has(row.procedure_id) && !row.archived_at).length;
  if (unmarked > 0) result.violations.push(`${unmarked} archived procedures are listed without archived_at`);
  return result;
}

async function main() {
  const started = Date.now();
  const [major] = process.versions.node.split(".").map(Number);
  if (major < 22) throw new Error(`Node ${process.versions.node} is too old for wrangler; run it as npm run crash`);
  log(`seed ${seed}, ${procedureCount} procedures, ${killCount} kills under load and one after it`);
  const prepared = await prepareService({ config: join(ROOT, "wrangler.toml"), verbose: args.verbose });
  const ports = { port: await freePort(), inspectorPort: await freePort() };
  const violations = [];
  const timer = setTimeout(() => {
    console.error(`crash: gave up after ${RUN_LIMIT_MS / 1000} s`);
    process.exit(1);
  }, RUN_LIMIT_MS);
  try {
    markDown();
    await restart(prepared, ports);
    const admin = server.token;
    const principal = async (role) => (await sendUntilAcked("POST", "/v1/principals", { name: `crash ${role}`, roles: [role] }, admin)).json.token;
    tokens = { operator: await principal("operator"), gateway: await principal("gateway") };

    const procedures = Array.from({ length: procedureCount }, (_, index) => ({
      index,
      name: `crash procedure ${seed}.${index}`,
      key: `crash-${seed}-${index}-${uuidv7()}`,
      rng: random(seed * 7919 + index),
      id: null,
      acked: [],
      unacknowledgedReasons: [],
      sent: new Set(),
      ackedEntries: new Set(),
      violations: [],
    }));
    const load = Promise.all(procedures.map((p) => drive(p).catch((error) => p.violations.push(`driver stopped: ${error.message}`))));

    const killer = random(seed);
    const restarts = [];
    for (let k = 1; k <= killCount; k++) {
      // Under load: once the restarted runtime has acknowledged some work again,
      // a seeded moment later (a restart takes seconds; a fixed delay could land
      // before the first request is through).
      await acknowledgedMore(LOAD_BEFORE_KILL, 20_000);
      await sleep(between(killer, 100, 1500));
      await kill(`kill ${k}/${killCount} under load (${stats.commands} commands, ${stats.entries} entries acknowledged so far)`);
      restarts.push(await restart(prepared, ports));
    }
    killsDone = true;
    await load;
    await kill("kill after the load");
    restarts.push(await restart(prepared, ports));
    const restartedAt = Date.now();
    log(`restarts took ${restarts.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(", ")}`);

    const fold = await loadFold(prepared.dir);
    const totals = { acknowledged: 0, lost: 0, duplicated: 0 };
    const states = new Map();
    for (const p of procedures) {
      if (p.id === null) continue;
      states.set(p.id, await checkProcedure(p, fold, totals));
    }
    const readAt = Date.now();
    const convergence = await converge(states, restartedAt);
    for (const p of procedures) for (const v of p.violations) violations.push(`procedure ${p.index} (${p.id}): ${v}`);
    if (convergence.mismatch) violations.push(`the list did not converge within ${CONVERGENCE_LIMIT_MS / 1000} s: ${convergence.mismatch}`);

    const archiving = await archiveUnderKills(prepared, ports, [...states.keys()], random(seed * 31 + 1));
    violations.push(...archiving.violations);

    log(`requests whose outcome was unknown (connection killed or 5xx): ${stats.unknown}; commands refused: ${stats.refused}; rate limited and resent: ${stats.limited}`);
    console.log(`acknowledged: ${totals.acknowledged} (${stats.commands} commands, ${stats.entries} entries)`);
    console.log(`lost:         ${totals.lost}`);
    console.log(`duplicated:   ${totals.duplicated}`);
    console.log(`archived:     ${archiving.archived} of ${states.size} after ${archiving.kills} kills during archiving, in ${(archiving.ms / 1000).toFixed(1)} s; export lines lost: ${archiving.lost}`);
    console.log(
      `convergence:  ${(convergence.ms / 1000).toFixed(2)} s after the last restart, ${((restartedAt + convergence.ms - readAt) / 1000).toFixed(2)} s after ` +
        `the checks had read every object (limit ${CONVERGENCE_LIMIT_MS / 1000} s)`,
    );
  } catch (error) {
    violations.push(`run failed: ${error.stack ?? error}`);
    const output = server?.output().trim();
    if (output) console.error(`--- wrangler dev output (last lines) ---\n${output}`);
  } finally {
    clearTimeout(timer);
    await server?.stop();
    if (args.keep) log(`state kept in ${prepared.dir}`);
    else await prepared.remove();
  }
  for (const v of violations) console.error(`violation: ${v}`);
  log(`${violations.length === 0 ? "every check held" : `FAILED (${violations.length} violations)`} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exitCode = violations.length === 0 ? 0 : 1;
}

main().catch((error) => {
  console.error(`crash: ${error.stack ?? error}`);
  process.exitCode = 1;
});

// Shared bench machinery: start/stop the bench Worker under `wrangler dev`,
// a small HTTP client, the measure loop and table printing. Sections
// (bench/lifecycle.mjs, ...) use only what is exported here.
import { spawn } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { once } from "node:events";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = dirname(BENCH_DIR);
export const CONFIG = join(BENCH_DIR, "wrangler.bench.toml");
const WRANGLER = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const HOST = "127.0.0.1";
/** The bench service's webhook signing key: any fixed value serves a local run. */
export const BENCH_SIGNING_KEY = "bench-webhook-signing-key-0123456789";

// ---- CPU accounting -------------------------------------------------------

const CLOCK_TICK_MS = 10; // USER_HZ is 100 on Linux

/**
 * The live processes of process group `pgid` (Linux /proc; none elsewhere),
 * each with its command name and the CPU ms it used so far, read from
 * /proc/<pid>/stat in one pass. After the name in parentheses, field 3 is the
 * state, so pgrp is the third field after it, utime the twelfth and stime the
 * thirteenth. A process that ends meanwhile is left out.
 */
function groupProcesses(pgid) {
  let entries;
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const processes = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) !== pgid) continue;
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      processes.push({ pid: Number(entry), name, cpuMs: (Number(fields[11]) + Number(fields[12])) * CLOCK_TICK_MS });
    } catch {
      // the process ended meanwhile
    }
  }
  return processes;
}

/**
 * CPU ms used so far by the group (`group`: wrangler's Node process and its
 * runtimes) and by the Worker's own runtime (`worker`): the workerd process
 * `workerPid`, which runs the Worker, its objects, queues and local D1,
 * without wrangler's Node process (which, under wrangler dev, also prints
 * every line the Worker logs; deployed, log collection is not the Worker's
 * CPU) or wrangler's dev proxy (a second workerd that relays each request; a
 * deployment has none). With `workerPid` null, every workerd of the group.
 */
function serviceCpuMs(pgid, workerPid) {
  let group = 0;
  let worker = 0;
  for (const { pid, name, cpuMs } of groupProcesses(pgid)) {
    group += cpuMs;
    if (workerPid === null ? name === "workerd" : pid === workerPid) worker += cpuMs;
  }
  return { group, worker };
}

/** The socket inodes process `pid` holds open. */
function socketInodes(pid) {
  const inodes = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode) inodes.push(inode);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** The process of group `pgid` listening on TCP `port` (Linux /proc), or null when none is found. */
function listenerPid(pgid, port) {
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const listening = new Set();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      // local_address, st (0A: listening), ..., inode
      const fields = line.trim().split(/\s+/);
      if (fields.length > 9 && fields[3] === "0A" && fields[1].endsWith(suffix)) listening.add(fields[9]);
    }
  }
  const owner = groupProcesses(pgid).find(({ pid }) => {
    try {
      return socketInodes(pid).some((inode) => listening.has(inode));
    } catch {
      return false; // ended meanwhile
    }
  });
  return owner?.pid ?? null;
}

/** Resident memory (bytes) of the live processes of process group `pgid`. */
function groupRssBytes(pgid) {
  let total = 0;
  for (const { pid } of groupProcesses(pgid)) {
    try {
      const rss = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      total += rss ? Number(rss[1]) * 1024 : 0;
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}

/** Resident memory of the running service (wrangler + workerd), or NaN when none runs. */
export function serviceRssBytes() {
  return activeProbe ? groupRssBytes(activeProbe.pgid) : NaN;
}

function machineCpuMs() {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.idle + times.irq;
    busy += all - times.idle;
    total += all;
  }
  return { busy, total };
}

/**
 * Samples, around a measurement, the CPU the service's process group used
 * (wrangler + workerd) and the share of the machine used by anything else
 * (neither the service nor this bench): a busy machine makes the figures noisy.
 */
function cpuProbe(pgid, workerPid) {
  return {
    pgid,
    // The bench's own CPU is read inside the /proc walks, so the walks never count as the client's.
    start() {
      const self = process.cpuUsage();
      return { ...serviceCpuMs(pgid, workerPid), self, machine: machineCpuMs() };
    },
    stop(before, n) {
      const selfUsage = process.cpuUsage(before.self);
      const self = (selfUsage.user + selfUsage.system) / 1000;
      const now = serviceCpuMs(pgid, workerPid);
      const group = now.group - before.group;
      const worker = now.worker - before.worker;
      const machine = machineCpuMs();
      const busy = machine.busy - before.machine.busy;
      const total = machine.total - before.machine.total;
      return {
        serviceCpuMsPerRequest: group / n,
        workerCpuMsPerRequest: worker / n,
        clientCpuMsPerRequest: self / n,
        otherCpuShare: total > 0 ? Math.max(0, (busy - group - self) / total) : NaN,
      };
    },
  };
}

/** Set while a server runs: measure() reports CPU figures through it. */
let activeProbe = null;

// ---- processes ------------------------------------------------------------

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort() {
  const server = createServer();
  server.listen(0, HOST);
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

/** Keeps the last `max` lines a child printed, for the error report. */
function tail(max = 200) {
  const lines = [];
  let partial = "";
  return {
    push(chunk) {
      const parts = (partial + chunk.replace(/\x1b\[[0-9;]*m/g, "")).split("\n");
      partial = parts.pop();
      for (const line of parts) {
        lines.push(line);
        if (lines.length > max) lines.shift();
      }
    },
    text: () => [...lines, partial].join("\n"),
  };
}

// The service reads no request.cf: wrangler serves its placeholder rather than fetching a sample (as `npm start` does).
const childEnv = () => ({
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  FORCE_COLOR: "0",
  NO_COLOR: "1",
  CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false",
});

/** Runs wrangler to completion (stdin is not a TTY, so nothing prompts); throws with its output on failure. */
async function wrangler(args, { echo = false } = {}) {
  const child = spawn(process.execPath, [WRANGLER, ...args], { cwd: ROOT, env: childEnv(), stdio: ["ignore", "pipe", "pipe"] });
  const out = tail();
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      out.push(chunk);
      if (echo) process.stderr.write(chunk);
    });
  }
  const [code, signal] = await once(child, "exit");
  if (code !== 0) throw new Error(`wrangler ${args[0]} ${args[1] ?? ""} failed (${signal ?? code}):\n${out.text()}`);
}

/**
 * Bundles a Worker once into a fresh temporary directory and applies the D1
 * migrations to local state beside it. `config` is a wrangler configuration
 * (the bench's by default; the crash test serves the service's own
 * wrangler.toml). Answers {dir, bundle, persistTo, config, token, remove()}.
 *
 * The Worker is bundled first and served from the bundle with --no-bundle:
 * `wrangler dev` rebuilds and restarts on every change to src/, which must not
 * happen in the middle of a measurement while someone edits the service. A
 * run measures src/ as it was at its start.
 */
export async function prepareService({ config = CONFIG, verbose = false } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "procedure-edge-bench-"));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    const bundleDir = join(dir, "bundle");
    const persistTo = join(dir, "state");
    await wrangler(["deploy", "--dry-run", "--outdir", bundleDir, "-c", config], { echo: verbose });
    await wrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo, "-c", config], { echo: verbose });
    const scripts = readdirSync(bundleDir).filter((name) => name.endsWith(".js"));
    if (scripts.length !== 1) throw new Error(`expected one bundled script in ${bundleDir}, found: ${scripts.join(", ") || "none"}`);
    return { dir, bundle: join(bundleDir, scripts[0]), persistTo, config, token: `bench-admin-${crypto.randomUUID()}`, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/**
 * Serves a prepared Worker (prepareService) on the prepared state and
 * answers once /healthz is 200: with `inspector`, as `wrangler dev` (its
 * inspector on `inspectorPort`); without, through wrangler's API
 * (bench/serve-worker.mjs), and `inspectorPort` is null. Serving the same prepared
 * state again after kill() or stop() picks up what the last run persisted;
 * pass the same `port` to keep the base URL.
 *
 * stop() ends wrangler with SIGTERM (SIGKILL after 5 s); kill() sends SIGKILL
 * at once, the way a crash would. Both reach wrangler's whole process group,
 * workerd included, and are idempotent; neither removes the state.
 */
export async function serveService(prepared, { verbose = false, logLevel = "warn", port, inspectorPort, vars = {}, testScheduled = false, inspector = true } = {}) {
  let child = null;
  let exited = null;
  const out = tail();

  const signalGroup = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone
    }
  };
  const waitExit = () => (exited === null ? once(child, "exit") : Promise.resolve());
  const kill = async () => {
    if (!child) return;
    const done = waitExit();
    signalGroup("SIGKILL");
    await done;
    // workerd may outlive the wrangler process it was started by.
    signalGroup("SIGKILL");
    release();
  };
  const stop = async () => {
    if (!child) return;
    if (exited === null) {
      const done = waitExit();
      signalGroup("SIGTERM");
      const timer = setTimeout(() => signalGroup("SIGKILL"), 5_000);
      await done;
      clearTimeout(timer);
    }
    signalGroup("SIGKILL");
    release();
  };
  // Last resort when the caller dies without reaching stop(): synchronous kill.
  const killOnExit = () => child && signalGroup("SIGKILL");
  const release = () => {
    process.off("exit", killOnExit);
    if (activeProbe?.pgid === child?.pid) activeProbe = null;
  };
  process.on("exit", killOnExit);

  try {
    port ??= await freePort();
    inspectorPort = inspector ? (inspectorPort ?? (await freePort())) : null;
    // The secrets and any other vars, given the same way to either command.
    const secrets = { ADMIN_TOKEN: prepared.token, WEBHOOK_SIGNING_KEY: BENCH_SIGNING_KEY };
    const allVars = { ...secrets, ...vars };
    const command = inspector
      ? [
          WRANGLER,
          "dev",
          prepared.bundle,
          "--no-bundle",
          "-c", prepared.config,
          "--ip", HOST,
          "--port", String(port),
          "--inspector-port", String(inspectorPort),
          "--persist-to", prepared.persistTo,
          "--show-interactive-dev-session=false",
          // Below "info" the dev proxy skips its per-request log call back into
          // wrangler's Node process, which would otherwise cost CPU per request.
          "--log-level", logLevel,
          ...Object.entries(allVars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
          ...(testScheduled ? ["--test-scheduled"] : []),
        ]
      : // Without the inspector: wrangler's API in a process of its own (bench/serve-worker.mjs), same bundle, state and vars.
        [
          join(BENCH_DIR, "serve-worker.mjs"),
          JSON.stringify({ config: prepared.config, entrypoint: prepared.bundle, persist: prepared.persistTo, port, logLevel, testScheduled, vars: allVars }),
        ];
    // detached: its own process group, so stop() and kill() reach workerd too.
    // The secrets in the environment too: they satisfy a configuration that
    // declares them required; the vars decide their values.
    child = spawn(process.execPath, command, {
      cwd: ROOT,
      env: { ...childEnv(), ...secrets },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    child.on("exit", (code, signal) => (exited = signal ?? code));
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => {
        out.push(chunk);
        if (verbose) process.stderr.write(chunk);
      });
    }

    const baseUrl = `http://${HOST}:${port}`;
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (exited !== null) throw new Error(`wrangler dev exited (${exited}) before /healthz answered`);
      try {
        const res = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error("wrangler dev did not answer /healthz within 90 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    // Served through wrangler's API (bench/serve-worker.mjs), the Worker's own address, behind the dev proxy.
    const workerUrl = /the Worker itself answers at (\S+)/.exec(out.text())?.[1] ?? null;
    // The runtime listening there is the Worker's own: its CPU is "Worker CPU" (without it, every workerd's).
    const workerPid = workerUrl ? listenerPid(child.pid, Number(new URL(workerUrl).port)) : null;
    activeProbe = cpuProbe(child.pid, workerPid);
    return { baseUrl, workerUrl, workerPid, port, inspectorPort, token: prepared.token, stop, kill, output: () => out.text() };
  } catch (error) {
    const output = out.text();
    await stop();
    if (output.trim()) error.message += `\n--- wrangler dev output (last lines) ---\n${output}`;
    throw error;
  }
}

/**
 * Starts the bench Worker (bench/worker.ts via bench/wrangler.bench.toml) on
 * a free port with throw-away state and answers once /healthz is 200.
 * Always call stop() (it is idempotent); it kills wrangler's whole process
 * group, workerd included, and removes the state unless `keep`.
 */
export async function startServer({ verbose = false, keep = false, logLevel = "warn", config = CONFIG, vars = {}, testScheduled = false, inspector = true } = {}) {
  const prepared = await prepareService({ config, verbose });
  let server;
  try {
    server = await serveService(prepared, { verbose, logLevel, vars, testScheduled, inspector });
  } catch (error) {
    if (!keep) await prepared.remove();
    throw error;
  }
  const stop = async () => {
    await server.stop();
    if (!keep) await prepared.remove();
  };
  return { ...server, dir: prepared.dir, stop };
}

// ---- HTTP -----------------------------------------------------------------

/**
 * Reads options parsed by node:util's parseArgs: each from the command line,
 * else its BENCH_* variable (when it has one), else its default. `int` takes
 * an integer of at least `min`, `choice` one of `allowed`; anything else
 * throws, naming the option and its variable.
 */
export function optionReader(values) {
  const raw = (name, env, fallback) => values[name] ?? (env ? process.env[env] : undefined) ?? String(fallback);
  const named = (name, env) => (env ? `--${name} (${env})` : `--${name}`);
  return {
    int(name, env, fallback, min) {
      const given = raw(name, env, fallback);
      const value = Number(given);
      if (!Number.isInteger(value) || value < min) throw new Error(`${named(name, env)} must be an integer >= ${min}, got ${given}`);
      return value;
    },
    choice(name, env, fallback, allowed) {
      const given = raw(name, env, fallback);
      if (!allowed.includes(given)) throw new Error(`${named(name, env)} is ${allowed.join(" or ")}, got ${given}`);
      return given;
    },
  };
}

/** One of the bench Worker's own /__bench routes (no token), its JSON answer; a refusal throws with its status and body. */
async function benchJson(baseUrl, path, init = {}) {
  const res = await fetch(`${baseUrl}${path}`, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${path} -> ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

/** GET of a /__bench route. */
export function benchGet(baseUrl, path) {
  return benchJson(baseUrl, path);
}

/** POST of JSON to a /__bench route. */
export function benchPost(baseUrl, path, body) {
  return benchJson(baseUrl, path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body ?? {}) });
}

export class HttpError extends Error {
  constructor(method, path, status, body) {
    super(`${method} ${path} -> ${status}: ${body.slice(0, 500)}`);
    this.status = status;
    this.body = body;
    try {
      this.problem = JSON.parse(body);
    } catch {
      this.problem = null;
    }
  }
}

/** A JSON client for the bench Worker; every call reads the whole body. */
export function client(baseUrl, token) {
  return async function call(method, path, body) {
    const headers = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(baseUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new HttpError(method, path, res.status, text);
    return text ? JSON.parse(text) : null;
  };
}

// ---- UUIDv7 (RFC 9562) ------------------------------------------------------

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const pool = Buffer.alloc(16 * 4096);
let poolAt = pool.length;

/** A UUIDv7: 48-bit Unix ms, version 7, 74 random bits, RFC variant. */
export function uuidv7(ms = Date.now()) {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const b = pool.subarray(poolAt, (poolAt += 16));
  let t = Math.floor(ms);
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  let s = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += "-";
    s += HEX[b[i]];
  }
  return s;
}

// ---- measuring ------------------------------------------------------------

function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * Runs fn(i) for i = 0..n-1 with `concurrency` calls in flight. fn resolves
 * to an outcome label ("ok" when it resolves to nothing); a throw counts as
 * "error" and is kept (the first one) for the report.
 * Returns {label, n, concurrency, seconds, rps, p50, p99, outcomes, errors, firstError}
 * (latencies in ms, rps over all n calls), and while a server started by
 * startServer() runs also {serviceCpuMsPerRequest, clientCpuMsPerRequest,
 * otherCpuShare}.
 */
export async function measure(label, n, concurrency, fn) {
  const latencies = new Float64Array(n);
  const outcomes = {};
  let next = 0;
  let errors = 0;
  let firstError = null;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const t0 = performance.now();
      let outcome;
      try {
        outcome = (await fn(i)) ?? "ok";
      } catch (error) {
        errors += 1;
        firstError ??= error;
        outcome = "error";
      }
      latencies[i] = performance.now() - t0;
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
  };
  const probe = activeProbe;
  const sample = probe?.start();
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, worker));
  const seconds = (performance.now() - start) / 1000;
  const cpu = probe ? probe.stop(sample, n) : {};
  const sorted = latencies.sort();
  return {
    ...cpu,
    label,
    n,
    concurrency,
    seconds,
    rps: n / seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    outcomes,
    errors,
    firstError,
  };
}

/** Runs fn(i) for i = 0..n-1 like measure(), throwing on the first error; for setup and warm-up. */
export async function drive(n, concurrency, fn) {
  const result = await measure("setup", n, concurrency, fn);
  if (result.firstError) throw result.firstError;
  return result;
}

// ---- printing -------------------------------------------------------------

/** Prints rows (arrays of cells) under headers; numbers-looking cells align right. */
export function printTable(headers, rows) {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => String(r[c]).length)));
  const right = (cell) => /^[-+]?[\d.,]+\s*[x%]?$/.test(String(cell)) || cell === "-";
  const line = (cells) => cells.map((cell, c) => (right(cell) ? String(cell).padStart(widths[c]) : String(cell).padEnd(widths[c]))).join("  ");
  console.log(line(headers));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) console.log(line(row));
}

export const fmt = {
  rps: (v) => (Number.isFinite(v) ? v.toFixed(0) : "-"),
  ms: (v) => (Number.isFinite(v) ? v.toFixed(2) : "-"),
  ratio: (v) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : "-"),
  percent: (v) => (Number.isFinite(v) ? `${(v * 100).toFixed(0)}%` : "-"),
};

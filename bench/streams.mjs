// Live progress: one procedure watched by 0, 1, 100, 250 and 1,000 WebSocket
// watchers (opened with stream tickets, as a browser would) and by 100 SSE
// watchers. Commands (hold / resume) are sent one at a time, so each one's
// fan-out is measured alone: the command's latency, commands per second, and
// the time from the command's reply to the moment the LAST watcher received
// the event it appended (p50, p99). The next command goes once every watcher
// also has the state that follows the event. Beside it, what the service
// controls of a fan-out: the object's own time from the commit to the end of
// its last send (its feed times each broadcast; GET /__bench/broadcasts).
// Then 1,000 idle WebSocket watchers: the service's resident memory, whether
// the object hibernated, and the object's time to serve all 1,000 after the
// wake. Node's global WebSocket is the client; the bench waits on the
// receipts themselves, never by polling, so its thread sleeps while the
// service works.
import { once } from "node:events";
import { Worker } from "node:worker_threads";
import { benchGet, fmt, printTable, serviceRssBytes } from "./lib.mjs";

const now = () => performance.timeOrigin + performance.now();

export const title = "live streams (WebSocket and SSE fan-out)";

const COMMANDS = 200;
const WARMUP = 20;
const AIM_FANOUT_P99_MS = 250;
/** The end-to-end fan-out aim holds at this audience; the object's own time is aimed at for 1,000. */
const AIM_FANOUT_WATCHERS = 250;
/**
 * The object's own time to 1,000 WebSockets, p99 and after a wake. Every
 * command's broadcast is 2,000 sends there (its event, then the state); a
 * line after the table gives the object's time per send.
 */
const AIM_OBJECT_P99_MS = 100;
/** A command's p50 next to one nobody watches. */
const AIM_LATENCY_RATIO = 1.2;
const OPEN_CONCURRENCY = 50;
/** The runtime evicts an object after 10 s without work; the idle watchers are measured after this long. */
const IDLE_MS = 15_000;
const IDLE_WATCHERS = 1000;

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Per version, when each watcher received its event (`events`) and the state that follows it (`states`). */
function receiptsOf() {
  return { events: new Tally(), states: new Tally() };
}

/**
 * Receipts of one kind per version, waking whoever waits for a count: the wait
 * is an event, not a poll, so the bench's main thread sleeps while the
 * service works. One waiter per version, as the commands go one at a time.
 */
class Tally {
  constructor() {
    this.byVersion = new Map();
    this.waiting = new Map();
  }
  add(version) {
    const at = now();
    let entry = this.byVersion.get(version);
    if (entry) {
      entry.count += 1;
      entry.last = at;
    } else this.byVersion.set(version, (entry = { count: 1, last: at }));
    const waiter = this.waiting.get(version);
    if (waiter && entry.count >= waiter.expected) {
      this.waiting.delete(version);
      waiter.resolve(entry.last);
    }
  }
  /** When the `expected`-th receipt of `version` arrived; throws after 10 s. */
  async reached(version, expected) {
    const entry = this.byVersion.get(version);
    if (expected === 0 || (entry && entry.count >= expected)) return entry?.last ?? NaN;
    let timer;
    try {
      return await new Promise((resolve, reject) => {
        this.waiting.set(version, { expected, resolve });
        timer = setTimeout(() => {
          this.waiting.delete(version);
          reject(new Error(`only ${this.byVersion.get(version)?.count ?? 0} of ${expected} watchers received version ${version}`));
        }, 10_000);
      });
    } finally {
      clearTimeout(timer);
    }
  }
}

async function pool(n, concurrency, fn) {
  const out = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, async () => {
    for (let i = next++; i < n; i = next++) out[i] = await fn(i);
  }));
  return out;
}

async function openSockets(ctx, id, count, receipts) {
  return pool(count, OPEN_CONCURRENCY, async () => {
    const { ticket } = await ctx.call("POST", `/v1/procedures/${id}/stream-ticket`);
    const url = `${ctx.socketUrl.replace(/^http/, "ws")}/v1/procedures/${id}/stream?ticket=${encodeURIComponent(ticket)}`;
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      ws.addEventListener("error", (e) => reject(new Error(`WebSocket failed: ${e.message ?? "error"}`)), { once: true });
    });
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data));
      if (message.data?.version === undefined) return;
      if (message.event === "state") receipts.states.add(message.data.version);
      else receipts.events.add(message.data.version);
    });
    return ws;
  });
}

async function openSse(ctx, id, count, receipts) {
  return pool(count, OPEN_CONCURRENCY, async () => {
    const controller = new AbortController();
    const res = await fetch(`${ctx.baseUrl}/v1/procedures/${id}/stream`, {
      headers: { authorization: `Bearer ${ctx.token}`, accept: "text/event-stream" },
      signal: controller.signal,
    });
    if (res.status !== 200) throw new Error(`SSE answered ${res.status}`);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!frame.includes("\ndata: ")) continue;
          const data = JSON.parse(frame.slice(frame.indexOf("\ndata: ") + 7));
          if (data.version === undefined) continue;
          if (frame.includes("\nevent: state\n")) receipts.states.add(data.version);
          else receipts.events.add(data.version);
        }
      }
    })().catch(() => {});
    return { close: () => controller.abort() };
  });
}

/** Sends one command from the commander thread; answers its absolute send and reply times and the version. */
async function send(commander, message) {
  commander.postMessage(message);
  const [answer] = await once(commander, "message");
  if (answer.error) throw new Error(answer.error);
  return answer;
}

async function scenario(ctx, commander, label, watchers) {
  const created = await ctx.call("POST", "/v1/procedures", { name: `bench stream ${label}`, kind: "bench", target_asset_ids: [] });
  const id = created.procedure_id;
  await ctx.call("POST", `/v1/procedures/${id}/start`);
  const receipts = receiptsOf();
  const sockets = watchers.sockets ? await openSockets(ctx, id, watchers.sockets, receipts) : [];
  const streams = watchers.sse ? await openSse(ctx, id, watchers.sse, receipts) : [];
  const expected = sockets.length + streams.length;
  const latencies = [];
  const fanouts = [];
  let started = 0;
  let clientCpu = null;
  for (let i = 0; i < WARMUP + COMMANDS; i += 1) {
    if (i === WARMUP) {
      started = performance.now();
      clientCpu = process.cpuUsage();
    }
    const hold = i % 2 === 0;
    const { sent, replied, version } = await send(commander, {
      url: `${ctx.baseUrl}/v1/procedures/${id}/${hold ? "hold" : "resume"}`,
      token: ctx.token,
      body: hold ? { reason: "bench" } : { re_establishment_boundary: 0 },
    });
    const last = await receipts.events.reached(version, expected);
    // The next command goes once the whole broadcast (the state after the
    // event) has arrived: each command's latency is its own, not the tail of
    // the last one's fan-out.
    await receipts.states.reached(version, expected);
    if (i < WARMUP) continue;
    latencies.push(replied - sent);
    if (expected > 0) fanouts.push(Math.max(0, last - replied));
  }
  // Fan-out waits are inside the loop, so commands/s counts commands sent back to back once each fan-out is done.
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(clientCpu);
  // The object's own timing of the measured commands' broadcasts.
  const objectMs = sockets.length > 0 ? (await broadcastTimings(ctx, id)).slice(-COMMANDS).map((t) => t.ms).sort((a, b) => a - b) : [];
  for (const ws of sockets) ws.close();
  for (const s of streams) s.close();
  latencies.sort((a, b) => a - b);
  fanouts.sort((a, b) => a - b);
  return {
    label,
    watchers: expected,
    rps: COMMANDS / (elapsed / 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    fanP50: percentile(fanouts, 50),
    fanP99: percentile(fanouts, 99),
    objectP50: percentile(objectMs, 50),
    objectP99: percentile(objectMs, 99),
    // The watchers' side of the fan-out runs in this process, on the same cores as the service.
    clientShare: (used.user + used.system) / 1000 / elapsed,
  };
}

/** The broadcasts the procedure's object timed, oldest first, with a socket audience (bench/worker.ts). */
async function broadcastTimings(ctx, id) {
  const { timings } = await benchGet(ctx.baseUrl, `/__bench/broadcasts?id=${id}`);
  return timings.filter((t) => t.sockets > 0);
}

/** The object's instance tag (bench/worker.ts): a new one means the object was evicted and built again. */
async function instanceOf(ctx, id) {
  const [counts] = await benchGet(ctx.baseUrl, `/__bench/projection-writes?ids=${id}`);
  return counts.instance;
}

/**
 * The memory 1,000 idle WebSocket watchers hold: the resident memory of the
 * whole local service (wrangler and workerd, the runtime's connections
 * included) before they open and after IDLE_MS without a message, and whether
 * the object was evicted meanwhile (hibernated) while its sockets stayed open.
 */
async function idleWatchers(ctx) {
  const created = await ctx.call("POST", "/v1/procedures", { name: "bench idle watchers", kind: "bench", target_asset_ids: [] });
  const id = created.procedure_id;
  await ctx.call("POST", `/v1/procedures/${id}/start`);
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const before = serviceRssBytes();
  const receipts = receiptsOf();
  const sockets = await openSockets(ctx, id, IDLE_WATCHERS, receipts);
  const opened = await instanceOf(ctx, id);
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
  const idle = serviceRssBytes();
  const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
  const hibernated = (await instanceOf(ctx, id)) !== opened;
  // Still served after the wake: a command reaches every socket.
  await ctx.call("POST", `/v1/procedures/${id}/hold`, { reason: "bench wake" });
  const version = (await ctx.call("GET", `/v1/procedures/${id}`)).version;
  await receipts.events.reached(version, IDLE_WATCHERS);
  // The woken object's own time from that commit to its last send.
  const woken = (await broadcastTimings(ctx, id)).find((t) => t.version === version);
  for (const ws of sockets) ws.close();
  return { watchers: IDLE_WATCHERS, open, before, idle, hibernated, wokenMs: woken?.ms ?? NaN };
}

export async function run(ctx) {
  const commander = new Worker(new URL("./stream-commands.mjs", import.meta.url));
  const results = [];
  for (const [label, watchers] of [
    ["no watchers", {}],
    ["1 WebSocket", { sockets: 1 }],
    ["100 WebSocket", { sockets: 100 }],
    ["250 WebSocket", { sockets: 250 }],
    ["1,000 WebSocket", { sockets: 1000 }],
    ["100 SSE", { sse: 100 }],
  ]) {
    results.push(await scenario(ctx, commander, label, watchers));
  }
  await commander.terminate();
  const memory = await idleWatchers(ctx);
  const base = results[0];
  const notes = [];
  const thousand = results.find((r) => r.watchers === 1000);
  const aimed = results.find((r) => r.watchers === AIM_FANOUT_WATCHERS);
  if (!memory.hibernated) notes.push(`streams: the object with ${memory.watchers} idle WebSocket watchers was not evicted within ${IDLE_MS / 1000} s`);
  if (aimed && !(aimed.fanP99 < AIM_FANOUT_P99_MS)) notes.push(`streams: p99 fan-out to ${AIM_FANOUT_WATCHERS} WebSockets is ${fmt.ms(aimed.fanP99)} ms (aim < ${AIM_FANOUT_P99_MS} ms)`);
  if (thousand && !(thousand.objectP99 < AIM_OBJECT_P99_MS)) notes.push(`streams: the object's p99 from commit to last send to 1,000 WebSockets is ${fmt.ms(thousand.objectP99)} ms (aim < ${AIM_OBJECT_P99_MS} ms)`);
  if (!(memory.wokenMs < AIM_OBJECT_P99_MS)) notes.push(`streams: the woken object took ${fmt.ms(memory.wokenMs)} ms from commit to last send to ${memory.watchers} hibernated WebSockets (aim < ${AIM_OBJECT_P99_MS} ms)`);
  for (const r of results.slice(1)) {
    if (!(r.p50 / base.p50 <= AIM_LATENCY_RATIO)) notes.push(`streams: a command's p50 with ${r.label} watchers is ${fmt.ratio(r.p50 / base.p50)} of none (aim <= ${AIM_LATENCY_RATIO}x)`);
  }
  return {
    rows: [],
    notes,
    print() {
      console.log();
      printTable(
        ["watchers", "n", "commands/s", "cmd p50 ms", "cmd p99 ms", "p50 / none", "fan-out p50 ms", "fan-out p99 ms", "object p50 ms", "object p99 ms", "bench client CPU"],
        results.map((r) => [
          r.label,
          r.watchers,
          fmt.rps(r.rps),
          fmt.ms(r.p50),
          fmt.ms(r.p99),
          fmt.ratio(r.p50 / base.p50),
          fmt.ms(r.fanP50),
          fmt.ms(r.fanP99),
          fmt.ms(r.objectP50),
          fmt.ms(r.objectP99),
          fmt.percent(r.clientShare),
        ]),
      );
      console.log();
      console.log(
        `Aims: the object's own time from commit to last send to 1,000 WebSockets < ${AIM_OBJECT_P99_MS} ms (p99, and after a wake); ` +
          `fan-out p99 to ${AIM_FANOUT_WATCHERS} WebSockets < ${AIM_FANOUT_P99_MS} ms; a command's p50 within ${AIM_LATENCY_RATIO}x of no watchers.`,
      );
      if (thousand) {
        // Each broadcast there is one event and one state per socket.
        const frames = thousand.watchers * 2;
        console.log(`At 1,000 WebSockets each broadcast is ${frames.toLocaleString("en")} sends: ${fmt.ms(thousand.objectP50 / frames)} ms of the object's time per send at p50.`);
      }
      console.log(`Fan-out: from the command's reply to the last watcher's receipt of its event. ${COMMANDS} commands one at a time per row.`);
      console.log("Object: from the commit to the end of the object's last send of that broadcast, by the object's own clock (WebSocket rows).");
      console.log("Bench client CPU: the share of one core the watchers' own process used meanwhile (the service shares the machine's cores with it).");
      console.log(
        ctx.opts.sockets === "direct"
          ? "WebSockets: opened straight to the Worker (--sockets direct), not through wrangler's dev proxy."
          : "WebSockets: opened through wrangler's dev proxy, which relays every frame on the same cores (--sockets direct opens them straight to the Worker).",
      );
      const grown = memory.idle - memory.before;
      console.log(
        `${memory.watchers.toLocaleString("en")} idle WebSocket watchers, ${IDLE_MS / 1000} s without a message (${memory.open} still open): ` +
          `the object was ${memory.hibernated ? "evicted (hibernated) meanwhile" : "NOT evicted"}; the local service's resident memory grew ` +
          `${(grown / 2 ** 20).toFixed(1)} MiB (${(grown / memory.watchers / 1024).toFixed(1)} KiB per watcher, the runtime's connections and wrangler's proxy included), ` +
          `from ${(memory.before / 2 ** 20).toFixed(0)} to ${(memory.idle / 2 ** 20).toFixed(0)} MiB. All ${memory.watchers} received the next command's event after the wake; ` +
          `the woken object's own time from that commit to its last send: ${fmt.ms(memory.wokenMs)} ms.`,
      );
    },
  };
}

// Webhook notifications: from a committed source to a receiver's 2xx. The
// receiver is a small HTTP server on 127.0.0.1 in this process; it answers
// 204 at once and notes when each (webhook-id, subscription) arrived.
// - transitions: hold / resume on started procedures, each procedure driven by
//   one worker so its commands stay in order; latency runs from the command's
//   2xx (the commit) to each subscription's delivery, with 1, 10 and 100
//   subscriptions listening (deliveries/s over the whole row);
// - stalls: seeded stalled procedures and one watcher tick (POST /__bench/tick,
//   which drains the outbox as the scheduled handler does); latency runs from
//   the tick's start, so it includes the tick itself;
// - a command's own latency with no subscription listening and with 100.
// Aim: p99 under 2 s from the source to the receiver, and no change in a
// command's latency from subscriptions.
import { createServer } from "node:http";
import { benchPost, drive, fmt, HttpError, measure, printTable, uuidv7 } from "./lib.mjs";

export const title = "notifications (webhooks)";

const AIM_P99_MS = 2000;
/** How long a row waits for its last delivery before counting the rest as lost. */
const SETTLE_MS = 60_000;
const PROCEDURES = 10;
/** Commands per row, by subscriptions listening: fewer for more, so each row delivers ~200-1000 times. */
const COMMANDS = { 1: 200, 10: 60, 100: 10 };
const STALLS = 50;
const LATENCY_COMMANDS = 200;

function percentile(sorted, q) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** The receiver: arrivals by `${webhook-id} ${path}`, and waiters for a count of them. */
async function startReceiver() {
  const arrivals = new Map();
  let waiter = null;
  const server = createServer((req, res) => {
    const key = `${req.headers["webhook-id"]} ${req.url}`;
    if (!arrivals.has(key)) arrivals.set(key, performance.now());
    req.resume();
    req.on("end", () => {
      res.writeHead(204).end();
      if (waiter && waiter.check()) waiter.done();
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    arrivals,
    /** Resolves once `keys` all arrived, or after SETTLE_MS. */
    waitFor(keys) {
      return new Promise((resolve) => {
        const check = () => keys.every((k) => arrivals.has(k));
        const timer = setTimeout(() => resolve(false), SETTLE_MS);
        waiter = {
          check,
          done: () => {
            clearTimeout(timer);
            waiter = null;
            resolve(true);
          },
        };
        if (check()) waiter.done();
      });
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

async function subscribeMany(call, receiver, count, tag, body) {
  const paths = [];
  const ids = [];
  await drive(count, 8, async (i) => {
    const path = `/${tag}/${i}`;
    const created = await call("POST", "/v1/subscriptions", { url: `${receiver.origin}${path}`, ...body });
    paths[i] = path;
    ids[i] = created.subscription_id;
  });
  return { paths, ids };
}

async function unsubscribe(call, ids) {
  await drive(ids.length, 8, (i) => call("DELETE", `/v1/subscriptions/${ids[i]}`));
}

async function startedProcedures(call, count, asset) {
  const ids = [];
  await drive(count, 8, async (i) => {
    const created = await call("POST", "/v1/procedures", { name: `notify bench ${i}`, kind: "notify-bench", target_asset_ids: [asset] });
    await call("POST", `/v1/procedures/${created.procedure_id}/start`);
    ids[i] = created.procedure_id;
  });
  return ids;
}

/** `total` hold/resume commands spread over the procedures, each procedure in order; answers [{webhook_id, at}] per commit. */
async function transitions(call, procedures, total) {
  const commits = [];
  const perProcedure = Math.ceil(total / procedures.length);
  const state = new Map(procedures.map((id) => [id, "Running"]));
  await Promise.all(
    procedures.map(async (id) => {
      for (let i = 0; i < perProcedure && commits.length < total; i++) {
        const hold = state.get(id) === "Running";
        const answer = await call("POST", `/v1/procedures/${id}/${hold ? "hold" : "resume"}`, hold ? { reason: "notify bench" } : { re_establishment_boundary: 0 });
        commits.push({ webhook_id: `msg_${id}_v${answer.version}`, at: performance.now() });
        state.set(id, answer.status);
      }
    }),
  );
  return commits;
}

/** Latencies from each source's time to each subscription's arrival; deliveries/s over the row. */
function summarize(label, sources, paths, arrivals, startedAt) {
  const latencies = [];
  let lost = 0;
  let last = startedAt;
  for (const source of sources) {
    for (const path of paths) {
      const at = arrivals.get(`${source.webhook_id} ${path}`);
      if (at === undefined) lost += 1;
      else {
        latencies.push(at - source.at);
        last = Math.max(last, at);
      }
    }
  }
  latencies.sort((a, b) => a - b);
  return {
    label,
    subscriptions: paths.length,
    deliveries: latencies.length,
    lost,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    rate: latencies.length / ((last - startedAt) / 1000),
  };
}


export async function run({ baseUrl, call }) {
  const receiver = await startReceiver();
  const rows = [];
  const latencyRows = [];
  const notes = [];
  try {
    // ---- transitions, 1 / 10 / 100 subscriptions ----
    for (const count of [1, 10, 100]) {
      const asset = `notify-bench-${uuidv7()}`;
      const procedures = await startedProcedures(call, PROCEDURES, asset);
      const subs = await subscribeMany(call, receiver, count, `t${count}`, {
        event_types: ["procedure.held", "procedure.resumed"],
        filter: { target_asset_id: asset },
      });
      const startedAt = performance.now();
      const commits = await transitions(call, procedures, COMMANDS[count]);
      await receiver.waitFor(commits.flatMap((c) => subs.paths.map((p) => `${c.webhook_id} ${p}`)));
      rows.push(summarize(`transition -> 2xx, ${count} sub`, commits, subs.paths, receiver.arrivals, startedAt));
      await unsubscribe(call, subs.ids);
    }

    // ---- stalls from one tick ----
    const subs = await subscribeMany(call, receiver, 1, "stall", { event_types: ["procedure.stalled"], filter: { kind: "bench" } });
    const nowMs = Date.now();
    await benchPost(baseUrl, "/__bench/clear");
    await benchPost(baseUrl, "/__bench/seed", {
      count: STALLS * 2,
      stalled: STALLS,
      held_fraction: 0,
      now_ms: nowMs,
      stale_after_seconds: 3600,
      held_stale_after_seconds: 86400,
    });
    const tickAt = performance.now();
    const tick = await benchPost(baseUrl, "/__bench/tick", { now_ms: nowMs, stale_after_seconds: 3600, held_stale_after_seconds: 86400 });
    const decisions = await call("GET", `/v1/decisions?choice=Stall&limit=100`);
    const sources = decisions.items
      .filter((d) => d.recorded_at === new Date(nowMs).toISOString())
      .map((d) => ({ webhook_id: `msg_${d.id}`, at: tickAt }));
    await receiver.waitFor(sources.flatMap((s) => subs.paths.map((p) => `${s.webhook_id} ${p}`)));
    rows.push(summarize(`tick decision -> 2xx (${tick.flagged} stalls)`, sources, subs.paths, receiver.arrivals, tickAt));
    await unsubscribe(call, subs.ids);

    // ---- a command's own latency, without and with 100 subscriptions listening ----
    for (const count of [0, 100]) {
      const asset = `notify-bench-${uuidv7()}`;
      const procedures = await startedProcedures(call, PROCEDURES, asset);
      const listening = await subscribeMany(call, receiver, count, `c${count}`, {
        event_types: ["procedure.held", "procedure.resumed"],
        filter: { target_asset_id: asset },
      });
      const state = new Map(procedures.map((id) => [id, "Running"]));
      const result = await measure(`hold/resume, ${count} subscriptions`, LATENCY_COMMANDS, PROCEDURES, async (i) => {
        const id = procedures[i % PROCEDURES];
        const hold = state.get(id) === "Running";
        state.set(id, hold ? "Held" : "Running");
        try {
          await call("POST", `/v1/procedures/${id}/${hold ? "hold" : "resume"}`, hold ? { reason: "notify bench" } : { re_establishment_boundary: 0 });
          return "ok";
        } catch (error) {
          // Two commands on one procedure may cross; the refused one wrote nothing.
          if (error instanceof HttpError && error.status === 409) return "refused";
          throw error;
        }
      });
      latencyRows.push(result);
      if (count > 0) await unsubscribe(call, listening.ids);
    }
  } finally {
    await receiver.close();
  }
  for (const row of rows) {
    if (row.lost > 0) notes.push(`${row.label}: ${row.lost} deliveries did not arrive within ${SETTLE_MS / 1000} s`);
  }
  return {
    rows: [],
    notes,
    measured: latencyRows,
    print() {
      console.log();
      console.log("notifications: from the committed source to the receiver's 2xx");
      printTable(
        ["scenario", "subscriptions", "deliveries", "lost", "p50 ms", "p99 ms", "deliveries/s", `p99 < ${AIM_P99_MS} ms`],
        rows.map((r) => [r.label, r.subscriptions, r.deliveries, r.lost, fmt.ms(r.p50), fmt.ms(r.p99), fmt.rps(r.rate), r.p99 < AIM_P99_MS ? "yes" : "NO"]),
      );
      console.log();
      console.log("notifications: a command's own latency (hold / resume, 10 procedures, all in flight)");
      printTable(
        ["scenario", "requests", "req/s", "p50 ms", "p99 ms", "refused", "errors", "other CPU"],
        latencyRows.map((r) => [r.label, r.n, fmt.rps(r.rps), fmt.ms(r.p50), fmt.ms(r.p99), r.outcomes.refused ?? 0, r.errors, fmt.percent(r.otherCpuShare)]),
      );
    },
  };
}

// Activity ingest: batches of 500 logbook entries posted by a gateway
// principal to procedures started WITHOUT conduct (a free-form logbook), into
// ONE procedure and spread over `objects` procedures. Each is compared with a
// raw insert of the very same request bodies into bare baseline objects
// (POST /__bench/baseline-batch/{name}: one transaction of N inserts into a
// table shaped like the logbook, no validation, no dedup lookup), with the
// same number of batches, the same concurrency and the same spread.
//
// It also counts the service's D1 projection writes (bench/worker.ts wraps
// ProcedureObject.projectSummary): the activity mirror must be refreshed at a
// bounded rate per procedure (ACTIVITY_MIRROR_INTERVAL_MS), not once per
// batch. The counts live in each object's memory and restart at 0 when an
// object is evicted and re-created; the bench detects that (an instance tag)
// and says so rather than report a short count.
import { drive, fmt, HttpError, measure, printTable, uuidv7 } from "./lib.mjs";

export const title = "activity ingest (batches of 500 entries)";

export const BATCH_SIZE = 500;
/** Ingest may cost at most this many times the raw insert of the same batch (entries per second, and p50). */
const AIM = 1.1;
/** The service's ACTIVITY_MIRROR_INTERVAL_MS (src/procedure/object/object.ts): one mirror write per procedure per interval at most. */
const MIRROR_INTERVAL_S = 60;

/** The entries of one batch: 500 notes with small payloads, each with its own UUIDv7. */
export function batchEntries(batch) {
  const now = Date.now();
  const entries = new Array(BATCH_SIZE);
  for (let i = 0; i < BATCH_SIZE; i++) {
    entries[i] = {
      event_id: uuidv7(now),
      step_kind: "note",
      payload: { seq: batch * BATCH_SIZE + i, channel: `ch-${i % 8}`, value: Math.round(Math.random() * 1e4) / 100, unit: "K" },
      sampled_at: new Date(now - (BATCH_SIZE - i)).toISOString(),
    };
  }
  return entries;
}

/** The request body of one batch. */
function batchBody(batch) {
  return JSON.stringify({ entries: batchEntries(batch) });
}

// ---- requests -----------------------------------------------------------------

/** Posts one batch to a procedure as the gateway; a batch that is not fully new counts as "partial". */
function ingester(baseUrl, gatewayToken) {
  return async (procedureId, body) => {
    const res = await fetch(`${baseUrl}/v1/procedures/${procedureId}/activities`, {
      method: "POST",
      headers: { authorization: `Bearer ${gatewayToken}`, "content-type": "application/json" },
      body,
    });
    const text = await res.text();
    if (!res.ok) throw new HttpError("POST", `/v1/procedures/${procedureId}/activities`, res.status, text);
    return JSON.parse(text).event_count === BATCH_SIZE ? "ok" : "partial";
  };
}

function rawInserter(baseUrl) {
  return async (name, body) => {
    const res = await fetch(`${baseUrl}/__bench/baseline-batch/${name}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`raw batch insert -> ${res.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text).count === BATCH_SIZE ? "ok" : "partial";
  };
}

/** Registers and starts `count` procedures (no conduct: a free-form logbook); answers their ids. */
async function startProcedures(call, count, concurrency, tag) {
  const ids = new Array(count);
  await drive(count, concurrency, async (i) => {
    const procedure = await call("POST", "/v1/procedures", { name: `bench ingest ${tag} ${i}`, kind: "bench-ingest", target_asset_ids: [] });
    ids[i] = procedure.procedure_id;
  });
  await drive(count, concurrency, (i) => call("POST", `/v1/procedures/${ids[i]}/start`));
  return ids;
}

/** Reads (and with reset, zeroes) the projection-write counts of `ids`. */
async function projectionWrites(baseUrl, ids, reset) {
  const res = reset
    ? await fetch(`${baseUrl}/__bench/projection-writes`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ids }),
      })
    : await fetch(`${baseUrl}/__bench/projection-writes?ids=${ids.join(",")}`);
  const text = await res.text();
  if (!res.ok) throw new Error(`projection-writes -> ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

// ---- one scenario -------------------------------------------------------------

/**
 * Ingest into `ids` (batch i goes to ids[i % ids.length]) and the raw insert
 * into as many baseline objects, with the same bodies. Warm-up batches are
 * not timed but are posted (and their entries counted for the D1 writes).
 */
async function scenario({ baseUrl, ingest, raw, label, ids, batches, warmup, concurrency, bodies, rawTag, notes }) {
  const objects = ids.length;
  const before = await projectionWrites(baseUrl, ids, true);
  const firstAt = new Array(objects).fill(Infinity);
  const lastAt = new Array(objects).fill(-Infinity);
  const post = (i, offset) => {
    const k = i % objects;
    firstAt[k] = Math.min(firstAt[k], performance.now());
    return ingest(ids[k], bodies[offset + i]).finally(() => (lastAt[k] = performance.now()));
  };
  await drive(warmup, concurrency, (i) => post(i, 0));
  const service = await measure(`ingest, ${label}`, batches, concurrency, (i) => post(i, warmup));

  const after = await projectionWrites(baseUrl, ids, false);
  const evicted = after.filter((a, k) => a.instance !== before[k].instance).length;
  if (evicted > 0) {
    notes.push(`ingest, ${label}: ${evicted} of ${objects} procedure objects were re-created during the run; their D1 write counts restarted at 0 and are short`);
  }
  const writes = after.map((a) => a.writes);
  const failed = after.reduce((n, a) => n + a.failed, 0);
  if (failed > 0) notes.push(`ingest, ${label}: ${failed} projection writes failed (left to the alarm)`);
  const spans = firstAt.map((f, k) => Math.max(0, lastAt[k] - f) / 1000);
  // Per procedure: the logbook-opened write, then at most one mirror write per interval.
  const allowed = spans.map((s) => 1 + Math.floor(s / MIRROR_INTERVAL_S));
  const over = writes.filter((w, k) => w > allowed[k]).length;
  if (over > 0) notes.push(`ingest, ${label}: ${over} procedures wrote D1 more often than 1 + one per ${MIRROR_INTERVAL_S} s of ingest`);
  const entries = (warmup + batches) * BATCH_SIZE;

  // The floor: the same bodies, the same spread, the same concurrency.
  const rawName = (i) => `ingest-${rawTag}-${i % objects}`;
  await drive(warmup, concurrency, (i) => raw(rawName(i), bodies[i]));
  const floor = await measure(`raw insert, ${label}`, batches, concurrency, (i) => raw(rawName(i), bodies[warmup + i]));

  return {
    service: { ...service, objects },
    floor: { ...floor, objects },
    d1: {
      writes: writes.reduce((a, b) => a + b, 0),
      entries,
      min: Math.min(...writes),
      max: Math.max(...writes),
      allowedMax: Math.max(...allowed),
      spanMax: Math.max(...spans),
    },
  };
}

/** Entries per second of a measured row. */
const eps = (r) => (r.n * BATCH_SIZE) / r.seconds;

/** A row beside the raw insert: entries per second and p50, each as raw / row, and whether both are within the aim. */
function ratios(r, floor) {
  const cost = eps(floor) / eps(r);
  const p50 = r.p50 / floor.p50;
  return { cost, p50, within: cost <= AIM && p50 <= AIM };
}

// ---- the section ----------------------------------------------------------------

/** Answers {rows: [], notes, print, measured}: ingest prints its own table (entries per second, batches of 500). */
export async function run({ baseUrl, call, opts }) {
  const { ingestBatches: batches, ingestConcurrency: concurrency, ingestWarmup: warmup, objects } = opts;
  const notes = [];

  // The gateway: its own principal and token, as an instrument gateway would have.
  const gateway = await call("POST", "/v1/principals", { name: "bench gateway", roles: ["gateway"] });
  const ingest = ingester(baseUrl, gateway.token);
  const raw = rawInserter(baseUrl);

  // Built before any timing so the client's JSON work does not land in the figures.
  const bodies = Array.from({ length: warmup + batches }, (_, i) => batchBody(i));
  const bodyBytes = Buffer.byteLength(bodies[0]);

  const [single] = await startProcedures(call, 1, 1, "one");
  const many = await startProcedures(call, objects, opts.concurrency, "many");

  const one = await scenario({ baseUrl, ingest, raw, label: "1 procedure", ids: [single], batches, warmup, concurrency, bodies, rawTag: "one", notes });
  // Fresh bodies: the dedup is per procedure, but keep every event id unique across the run anyway.
  const bodiesMany = Array.from({ length: warmup + batches }, (_, i) => batchBody(warmup + batches + i));
  const spread = await scenario({
    baseUrl, ingest, raw, label: `${objects} procedures`, ids: many, batches, warmup, concurrency, bodies: bodiesMany, rawTag: "many", notes,
  });

  for (const s of [one, spread]) {
    for (const r of [s.service, s.floor]) {
      if (r.errors > 0) notes.push(`errors in "${r.label}": ${r.errors}; first: ${r.firstError?.message ?? r.firstError}`);
      if (r.outcomes.partial) notes.push(`"${r.label}": ${r.outcomes.partial} batches were not stored as ${BATCH_SIZE} new entries`);
    }
    const { cost, p50, within } = ratios(s.service, s.floor);
    if (!within) notes.push(`${s.service.label}: ${fmt.ratio(cost)} the raw insert's time per batch, p50 ${fmt.ratio(p50)} (aim <= ${AIM.toFixed(2)}x)`);
  }

  const print = () => {
    const rows = [];
    for (const s of [one, spread]) {
      for (const r of [s.floor, s.service]) {
        const isFloor = r === s.floor;
        const { cost, p50, within } = ratios(r, s.floor);
        rows.push([
          r.label, r.objects, r.n, r.concurrency, fmt.rps(eps(r)), fmt.ms(r.p50), fmt.ms(r.p99),
          Object.entries(r.outcomes).filter(([k]) => k !== "ok").reduce((n, [, v]) => n + v, 0),
          fmt.ms((r.serviceCpuMsPerRequest ?? NaN) / BATCH_SIZE * 1000), fmt.percent(r.otherCpuShare),
          fmt.ratio(cost), fmt.ratio(p50), isFloor ? "(floor)" : within ? "yes" : "NO",
        ]);
      }
    }
    console.log();
    console.log(`Activity ingest: batches of ${BATCH_SIZE} entries (${(bodyBytes / 1024).toFixed(0)} KiB per request), gateway principal, procedures started without conduct`);
    printTable(
      ["scenario", "objects", "batches", "in flight", "entries/s", "p50 ms/batch", "p99 ms/batch", "not ok", "svc CPU ms/1k entries", "other CPU", "raw entries/s / entries/s", "p50 / raw p50", `within ${AIM}x`],
      rows,
    );
    console.log();
    printTable(
      ["scenario", "entries", "batches per procedure", "D1 writes", "D1 writes per 1,000 entries", "writes per procedure (min-max)", "allowed per procedure", "longest ingest span s"],
      [one, spread].map((s) => [
        s.service.label, s.d1.entries, (s.d1.entries / BATCH_SIZE / s.service.objects).toFixed(1), s.d1.writes, (s.d1.writes * 1000 / s.d1.entries).toFixed(3),
        s.d1.min === s.d1.max ? String(s.d1.min) : `${s.d1.min}-${s.d1.max}`, `<= ${s.d1.allowedMax}`, s.d1.spanMax.toFixed(1),
      ]),
    );
    console.log();
    console.log(`Aim: ingest within ${AIM}x of a raw insert of the same batch ("raw entries/s / entries/s" and "p50 / raw p50" <= ${AIM.toFixed(2)}x);`);
    console.log(`the raw insert is one transaction of ${BATCH_SIZE} INSERTs into a logbook-shaped table of a bare object, same bodies,`);
    console.log(`same spread and concurrency. D1 writes: projectSummary calls counted in each procedure object since its start`);
    console.log(`(warm-up included, ${warmup} batches): the logbook-opened write, then at most one activity-mirror write per`);
    console.log(`procedure per ${MIRROR_INTERVAL_S} s ("allowed"); one write per batch would be ${(1000 / BATCH_SIZE).toFixed(3)} per 1,000 entries.`);
    console.log(`Counts are in-memory and restart if an object is evicted and re-created (the bench checks an instance tag).`);
  };

  return { rows: [], notes, print, measured: [one.floor, one.service, spread.floor, spread.service] };
}

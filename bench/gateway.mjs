// `npm run bench:gateway`: what the TypeScript client and the reference
// gateway cost on top of raw ingest. Entries per second:
// - raw ingest: pre-built batches of 500 posted with fetch, one batch in
//   flight per procedure (the order a gateway needs), as bench/ingest.mjs does;
// - through the client: the same entries made one by one with the activity
//   writer (UUIDv7 ids, batching, the retry machinery) into as many procedures;
// - the reference gateway: a conducted procedure of captures, then a scan of
//   setpoints (each `in_flight` recorded before its effect), on a simulated
//   instrument that takes no time.
// Aim: the client within 1.2x of raw ingest.
//
//   npm run bench:gateway -- [--url URL --token ADMIN_TOKEN] [--batches N] [--procedures P]
// Without --url it starts the service itself (as `npm run bench` does); with
// it, it runs against a service already up (`npm start`).
import { parseArgs } from "node:util";
import { createClient, systemClock } from "../clients/typescript/src/index.ts";
import { runGateway } from "../examples/gateway/gateway.ts";
import { NO_DELAYS, SimulatedInstrument } from "../examples/gateway/instrument.ts";
import { uuidv7 } from "./ingest.mjs";
import { client as httpClient, printTable, startServer } from "./lib.mjs";

const AIM = 1.2;
const BATCH = 500;

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    token: { type: "string" },
    batches: { type: "string", default: "60" },
    procedures: { type: "string", default: "4" },
    "gateway-steps": { type: "string", default: "5000" },
  },
});
const batches = Number(values.batches);
const many = Number(values.procedures);
const gatewaySteps = Number(values["gateway-steps"]);

const payload = (seq) => ({ seq, channel: `ch-${seq % 8}`, value: Math.round(Math.random() * 1e4) / 100, unit: "K" });

function batchBody(first) {
  const now = Date.now();
  const entries = [];
  for (let i = 0; i < BATCH; i++) entries.push({ event_id: uuidv7(now), step_kind: "note", payload: payload(first + i), sampled_at: new Date(now).toISOString() });
  return JSON.stringify({ entries });
}

async function timed(fn) {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

async function main() {
  const server = values.url ? null : await startServer();
  try {
    const baseUrl = values.url ?? server.baseUrl;
    const call = httpClient(baseUrl, values.token ?? server?.token ?? "local-admin-token");
    const { token: operator } = await call("POST", "/v1/principals", { name: "bench operator", roles: ["operator"] });
    const { token: gatewayToken } = await call("POST", "/v1/principals", { name: "bench gateway", roles: ["gateway", "reader"] });
    const operatorClient = createClient({ baseUrl, token: operator });
    const gateway = createClient({ baseUrl, token: gatewayToken });
    const started = async (n, tag) => {
      const ids = [];
      for (let i = 0; i < n; i++) {
        const p = await operatorClient.register({ name: `bench gateway ${tag} ${i}`, kind: "bench-gateway", target_asset_ids: [] });
        await operatorClient.procedure(p.procedure_id).start();
        ids.push(p.procedure_id);
      }
      return ids;
    };

    // Raw: one batch in flight per procedure, bodies built before the clock starts.
    const raw = async (ids) => {
      const per = Math.ceil(batches / ids.length);
      const bodies = ids.map((_, k) => Array.from({ length: per }, (_, b) => batchBody((k * per + b) * BATCH)));
      const seconds = await timed(() =>
        Promise.all(ids.map(async (id, k) => {
          for (const body of bodies[k]) {
            const res = await fetch(`${baseUrl}/v1/procedures/${id}/activities`, {
              method: "POST", headers: { authorization: `Bearer ${gatewayToken}`, "content-type": "application/json" }, body,
            });
            if (!res.ok) throw new Error(`raw ingest -> ${res.status}: ${await res.text()}`);
            await res.arrayBuffer();
          }
        })),
      );
      return { entries: per * ids.length * BATCH, seconds };
    };
    // Through the client: entries made one at a time, as a gateway makes them.
    const viaClient = async (ids) => {
      const per = Math.ceil(batches / ids.length) * BATCH;
      const writers = await Promise.all(ids.map((id) => gateway.procedure(id).activityWriter({ manifest: null })));
      const seconds = await timed(() =>
        Promise.all(writers.map(async (writer, k) => {
          for (let i = 0; i < per; i++) {
            void writer.entry("note", payload(k * per + i));
            // Let the writer's sends progress as a producer of real readings would.
            if (i % BATCH === BATCH - 1) await new Promise((resolve) => setImmediate(resolve));
          }
          await writer.flush();
        })),
      );
      return { entries: per * ids.length, seconds };
    };
    // The floor for the gateway: the same capture reports, pre-built, posted to a conducted procedure.
    const rawConducted = async (steps) => {
      const p = await operatorClient.register({ name: "bench gateway raw conducted", kind: "bench-gateway", target_asset_ids: [] });
      const result = await operatorClient.procedure(p.procedure_id).conduct({ steps });
      if (!result.succeeded) throw new Error(`conduct failed: ${JSON.stringify(result.failure)}`);
      const bodies = [];
      for (let first = 0; first < result.step_count; first += BATCH) {
        const now = Date.now();
        const entries = [];
        for (let i = first; i < Math.min(result.step_count, first + BATCH); i++) {
          entries.push({ event_id: uuidv7(now), step_kind: "capture", payload: { step_index: i, result: "ok", capture_name: "frame", frame: i, counts: 1000 }, sampled_at: new Date(now).toISOString() });
        }
        bodies.push(JSON.stringify({ entries }));
      }
      const seconds = await timed(async () => {
        for (const body of bodies) {
          const res = await fetch(`${baseUrl}/v1/procedures/${p.procedure_id}/activities`, {
            method: "POST", headers: { authorization: `Bearer ${gatewayToken}`, "content-type": "application/json" }, body,
          });
          if (!res.ok) throw new Error(`raw conducted ingest -> ${res.status}: ${await res.text()}`);
          await res.arrayBuffer();
        }
      });
      return { entries: result.step_count, seconds };
    };
    const runConducted = async (steps, label, entriesPerStep) => {
      const p = await operatorClient.register({ name: `bench gateway ${label}`, kind: "bench-gateway", target_asset_ids: [] });
      const handle = operatorClient.procedure(p.procedure_id);
      const result = await handle.conduct({ steps });
      if (!result.succeeded) throw new Error(`conduct failed: ${JSON.stringify(result.failure)}`);
      const instrument = new SimulatedInstrument({ clock: systemClock, delays: NO_DELAYS });
      let final;
      const seconds = await timed(async () => {
        final = await runGateway({ procedure: gateway.procedure(p.procedure_id), instrument, clock: systemClock, heartbeatMs: 0 });
      });
      if (final.status !== "Completed") throw new Error(`${label}: ended ${final.status}`);
      return { entries: final.step_count * entriesPerStep, seconds, steps: final.step_count };
    };

    const [one] = await started(1, "raw-1");
    const [oneClient] = await started(1, "client-1");
    const rawMany = await started(many, "raw-many");
    const clientMany = await started(many, "client-many");
    // Warm-up: the objects exist and the code paths are compiled before timing.
    await raw([one]);
    await viaClient([oneClient]);

    const rows = [];
    const row = (label, r, floor, judged = true) => rows.push([
      label, r.entries, r.seconds.toFixed(2), (r.entries / r.seconds).toFixed(0),
      floor ? `${((floor.entries / floor.seconds) / (r.entries / r.seconds)).toFixed(2)}x` : "(floor)",
      !floor ? "" : !judged ? "(protocol)" : (floor.entries / floor.seconds) / (r.entries / r.seconds) <= AIM ? "yes" : "NO",
    ]);
    const raw1 = await raw([one]);
    const client1 = await viaClient([oneClient]);
    const rawN = await raw(rawMany);
    const clientN = await viaClient(clientMany);
    row("raw ingest, 1 procedure", raw1);
    row("client writer, 1 procedure", client1, raw1);
    row(`raw ingest, ${many} procedures`, rawN);
    row(`client writer, ${many} procedures`, clientN, rawN);
    // A repeat unrolls at most 1,000 times, so the captures are a repeat of repeats.
    const capture = { kind: "capture", address: "detector", capture_name: "frame" };
    const inner = Math.min(1000, gatewaySteps);
    const captureSteps = [{ kind: "repeat", times: Math.ceil(gatewaySteps / inner), steps: [{ kind: "repeat", times: inner, steps: [capture] }] }];
    const rawCaptures = await rawConducted(captureSteps);
    const captures = await runConducted(captureSteps, "captures", 1);
    row(`raw ingest, ${rawCaptures.entries} capture reports, conducted`, rawCaptures);
    row(`gateway, ${captures.steps} captures (1 entry each)`, captures, rawCaptures);
    const scanPoints = Math.min(200, gatewaySteps);
    const scan = await runConducted([{ kind: "scan", address: "stage.x", start: 0, stop: 10, points: scanPoints }], "scan", 2);
    row(`gateway, ${scan.steps} setpoints (in_flight + ok)`, scan, rawCaptures, false);

    console.log();
    printTable(["scenario", "entries", "seconds", "entries/s", "raw entries/s / entries/s", `within ${AIM}x`], rows);
    console.log();
    console.log(`Raw ingest posts pre-built batches of ${BATCH} (one in flight per procedure); the client makes each entry with the`);
    console.log(`activity writer, which batches up to ${BATCH} and keeps one batch in flight per procedure so the service sees them in order.`);
    console.log(`The gateway rows run a conducted procedure on an instrument that takes no time; a setpoint's in_flight is recorded`);
    console.log(`before its effect (one round trip per setpoint by design), so that row measures the protocol, not the client.`);
  } finally {
    await server?.stop();
  }
}

await main();

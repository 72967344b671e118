// The floor under a lifecycle command: what the operations its path cannot do
// without cost on their own, measured inside the service's runtime with the
// HTTP request's own cost spread over 100 operations per request
// (POST /__bench/floor/{op} in bench/worker.ts):
//   noop     the request alone (the hop through wrangler dev and the Worker);
//   insert   one RPC to a bare object doing one INSERT (the baseline's work);
//   summary  the projection's D1 upsert of one summary;
//   queue    one queue send of a notification, plus the consumer's fan-out;
//   commit   one storage commit of its own inside an object (a write after an
//            await, as an object's after-commit bookkeeping makes);
//   log      one info log line of a request's shape (telemetry's cost);
//   metric   one Analytics Engine data point of a request's shape (the same).
// From these it prints the least a command that must reach D1 and the queue
// can cost next to the bare insert, whatever the rest of its path does.
import { fmt, measure, printTable } from "./lib.mjs";

export const title = "floor (the cost of one object RPC, one D1 upsert, one queue send)";
/** Compared with the bare insert request the lifecycle table starts from. */
export const usesBaseline = true;

const OPS_PER_REQUEST = 100;
const REQUESTS = 20;
const ROUNDS = 3;
/** Each operation bench/worker.ts repeats, and the row it gets; `noop` is the request around them. */
const ROWS = {
  insert: "object RPC + one INSERT",
  summary: "D1 upsert of one summary",
  queue: "queue send of one notification + fan-out",
  commit: "a storage commit of its own (after an await)",
  log: "one info log line",
  metric: "one metric data point",
};
const OPS = ["noop", ...Object.keys(ROWS)];

function hit(baseUrl, op) {
  return async () => {
    const res = await fetch(`${baseUrl}/__bench/floor/${op}`, { method: "POST" });
    const text = await res.text();
    if (!res.ok) throw new Error(`floor ${op} -> ${res.status}: ${text.slice(0, 300)}`);
  };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export async function run({ baseUrl, base }) {
  const samples = Object.fromEntries(OPS.map((op) => [op, { cpu: [], worker: [], wall: [], other: [] }]));
  // Rounds interleave the operations, so a drift of the machine touches all alike.
  for (let round = 0; round < ROUNDS; round++) {
    for (const op of OPS) {
      await measure("warm-up", 2, 1, hit(baseUrl, op));
      const m = await measure(op, REQUESTS, 1, hit(baseUrl, op));
      if (m.errors) throw m.firstError;
      samples[op].cpu.push(m.serviceCpuMsPerRequest);
      samples[op].worker.push(m.workerCpuMsPerRequest);
      samples[op].wall.push((m.seconds * 1000) / REQUESTS);
      samples[op].other.push(m.otherCpuShare);
    }
  }
  const request = { cpu: median(samples.noop.cpu), worker: median(samples.noop.worker), wall: median(samples.noop.wall) };
  const perOp = (op) => ({
    cpu: Math.max(0, (median(samples[op].cpu) - request.cpu) / OPS_PER_REQUEST),
    worker: Math.max(0, (median(samples[op].worker) - request.worker) / OPS_PER_REQUEST),
    wall: Math.max(0, (median(samples[op].wall) - request.wall) / OPS_PER_REQUEST),
  });
  const costs = Object.fromEntries(Object.keys(ROWS).map((op) => [op, perOp(op)]));
  const { summary, queue } = costs;
  // The bare insert request as the baseline measured it (16 in flight over 100 objects), in both measures.
  const bare = { cpu: base.many.serviceCpuMsPerRequest, worker: base.many.workerCpuMsPerRequest };
  const least = (unit) => ({
    upsert: (bare[unit] + summary[unit]) / bare[unit],
    upsertAndSend: (bare[unit] + summary[unit] + queue[unit]) / bare[unit],
  });
  const busy = Math.max(...OPS.flatMap((op) => samples[op].other));
  const own = least("worker");
  const svc = least("cpu");
  return {
    rows: [],
    notes: [],
    /** The least a command over many procedures can cost next to the bare insert, in the Worker's own CPU (the aim's measure). */
    floorRatio: own.upsertAndSend,
    print() {
      console.log(`\nFloor: ${OPS_PER_REQUEST} operations per request, ${REQUESTS} requests, median of ${ROUNDS} rounds; CPU of the local service (its Node process and workerd)`);
      printTable(
        ["operation", "svc CPU ms/op", "Worker CPU ms/op", "wall ms/op", `share of a bare insert request (Worker CPU ${fmt.ms(bare.worker)} ms)`],
        Object.entries(ROWS).map(([op, label]) => {
          const cost = costs[op];
          return [label, fmt.ms(cost.cpu), fmt.ms(cost.worker), fmt.ms(cost.wall), fmt.percent(cost.worker / bare.worker)];
        }),
      );
      console.log(
        `A command spread over many procedures pays its own D1 upsert; a hold or resume also sends one notification.\n` +
          `Least it can cost next to the bare insert, in the Worker's own CPU: ${fmt.ratio(own.upsert)} with the upsert, ` +
          `${fmt.ratio(own.upsertAndSend)} with the upsert and the send (svc CPU: ${fmt.ratio(svc.upsert)}, ${fmt.ratio(svc.upsertAndSend)}), before any validation or bookkeeping.` +
          (busy > 0.1 ? `\nwarning: other work used up to ${fmt.percent(busy)} of the CPU meanwhile; rerun on an idle machine.` : ""),
      );
    },
  };
}

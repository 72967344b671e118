// Lifecycle commands: hold {reason} / resume {re_establishment_boundary: 0}
// alternating on started procedures. Each accepted command appends exactly one
// event (ProcedureHeld / ProcedureResumed) and projects the summary to D1.
import { drive, HttpError, measure } from "./lib.mjs";

export const title = "lifecycle commands (hold / resume)";
/** Its rows are compared with the single-insert baseline (bench/baseline.mjs). */
export const usesBaseline = true;

const HOLD = { reason: "bench hold" };
const RESUME = { re_establishment_boundary: 0 };
/** What the service answers when a hold meets a Held procedure or a resume a Running one. */
const OUT_OF_TURN = new Set(["ProcedureCannotHold", "ProcedureCannotResume"]);

/** Registers and starts `count` procedures; answers their ids. */
export async function startProcedures(call, count, concurrency) {
  const ids = new Array(count);
  await drive(count, concurrency, async (i) => {
    const procedure = await call("POST", "/v1/procedures", { name: `bench procedure ${i}`, kind: "bench", target_asset_ids: [] });
    ids[i] = procedure.procedure_id;
  });
  await drive(count, concurrency, (i) => call("POST", `/v1/procedures/${ids[i]}/start`));
  return ids;
}

/**
 * Sends hold (turn even) or resume (turn odd). With several commands in flight
 * on ONE procedure, two may reach its object in the other order than sent; the
 * service then refuses one with 409 (nothing is written) and the next turn
 * puts the alternation back. Those are counted as "refused", not as errors.
 */
export async function holdOrResume(call, id, turn) {
  const hold = turn % 2 === 0;
  try {
    await call("POST", `/v1/procedures/${id}/${hold ? "hold" : "resume"}`, hold ? HOLD : RESUME);
    return "ok";
  } catch (error) {
    if (error instanceof HttpError && error.status === 409 && OUT_OF_TURN.has(error.problem?.error_class)) return "refused";
    throw error;
  }
}

/** The procedure's version: 2 (registered, started) + one per accepted command. */
async function version(call, id) {
  return (await call("GET", `/v1/procedures/${id}`)).version;
}

function checkAppended(label, expected, actual) {
  return expected === actual ? null : `${label}: expected version ${expected} (one event per accepted command), read ${actual}`;
}

/** Answers {rows: [{result, base: "one" | "many"}], notes: string[]}. */
export async function run({ call, opts }) {
  const { requests, concurrency, objects, warmup } = opts;
  const notes = [];

  // ONE procedure: every command queues on the same object.
  const [single] = await startProcedures(call, 1, 1);
  const warm = warmup - (warmup % 2); // even: the measurement starts with a hold
  const warmed = await drive(warm, concurrency, (i) => holdOrResume(call, single, i));
  const one = await measure("hold/resume, 1 procedure", requests, concurrency, (i) => holdOrResume(call, single, i));
  const mismatch = checkAppended(one.label, 2 + (warmed.outcomes.ok ?? 0) + (one.outcomes.ok ?? 0), await version(call, single));
  if (mismatch) notes.push(mismatch);

  // MANY procedures, round-robin: turn i goes to procedure i % objects, so a
  // procedure's consecutive commands are `objects` sends apart and arrive in order.
  const ids = await startProcedures(call, objects, concurrency);
  const warmMany = Math.max(1, Math.ceil(warmup / (2 * objects))) * 2 * objects; // whole hold+resume rounds
  await drive(warmMany, concurrency, (i) => holdOrResume(call, ids[i % objects], Math.floor(i / objects)));
  const many = await measure(`hold/resume, ${objects} procedures`, requests, concurrency, (i) =>
    holdOrResume(call, ids[i % objects], Math.floor(i / objects)),
  );
  const accepted = new Map();
  for (let i = 0; i < warmMany; i++) accepted.set(i % objects, (accepted.get(i % objects) ?? 0) + 1);
  for (let i = 0; i < requests; i++) accepted.set(i % objects, (accepted.get(i % objects) ?? 0) + 1);
  if ((many.outcomes.ok ?? 0) === requests) {
    for (const k of [0, objects - 1]) {
      const m = checkAppended(`${many.label} (#${k})`, 2 + accepted.get(k), await version(call, ids[k]));
      if (m) notes.push(m);
    }
  }

  return {
    rows: [
      { result: { ...one, objects: 1 }, base: "one" },
      { result: { ...many, objects }, base: "many" },
    ],
    notes,
    print() {
      // Each row's CPU per request counts these too: a refusal is answered, logged and counted like any request.
      for (const { label, outcomes } of [one, many]) {
        console.log(`${label}: ${outcomes.refused ?? 0} of ${requests} refused out of turn (409, nothing written)`);
      }
    },
  };
}

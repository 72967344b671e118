// Step deadlines: how late a StepOverdue decision is. 200 procedures are
// conducted with one step whose deadline is 1 s; a gateway reports each step
// in_flight and never finishes it. Each procedure's own alarm judges its step
// (no Cron tick runs). Lateness is the decision's recorded_at minus the
// deadline (the in_flight's recorded_at + 1 s), both the service's own clock.
// Aim: p99 under 2 s (the contract's bound is 5 s).
import { drive, fmt, printTable, uuidv7 } from "./lib.mjs";

export const title = "step deadlines";

const STEPS = 200;
const DEADLINE_SECONDS = 1;
const AIM_P99_MS = 2000;
/** How long the section waits for the last decision before counting the rest as missing. */
const SETTLE_MS = 60_000;

function percentile(sorted, q) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Every StepOverdue decision about `subjects`, paging the decisions list. */
async function overdueDecisions(call, subjects) {
  const found = new Map();
  let cursor = null;
  do {
    const page = await call("GET", `/v1/decisions?choice=StepOverdue&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    for (const decision of page.items) if (subjects.has(decision.subject_id)) found.set(decision.subject_id, decision);
    cursor = page.next_cursor;
  } while (cursor);
  return found;
}

export async function run(ctx) {
  const { call } = ctx;
  const asset = `deadline-bench-${uuidv7()}`;
  const ids = [];
  await drive(STEPS, 8, async (i) => {
    const created = await call("POST", "/v1/procedures", { name: `deadline bench ${i}`, kind: "deadline-bench", target_asset_ids: [asset] });
    await call("POST", `/v1/procedures/${created.procedure_id}/conduct`, {
      steps: [{ kind: "action", name: "slow_move", params: {}, deadline_seconds: DEADLINE_SECONDS }],
    });
    ids[i] = created.procedure_id;
  });
  const started = performance.now();
  await drive(STEPS, 8, (i) =>
    call("POST", `/v1/procedures/${ids[i]}/activities`, {
      entries: [{ event_id: uuidv7(), step_kind: "action", payload: { step_index: 0, result: "in_flight" }, sampled_at: new Date().toISOString() }],
    }),
  );
  const reported = performance.now() - started;
  const subjects = new Set(ids);
  let decisions = new Map();
  const deadline = performance.now() + SETTLE_MS;
  while (decisions.size < STEPS && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    decisions = await overdueDecisions(call, subjects);
  }
  const lateness = [...decisions.values()]
    .map((d) => Date.parse(d.recorded_at) - (Date.parse(d.inputs.in_flight_at) + d.inputs.deadline_seconds * 1000))
    .sort((a, b) => a - b);
  const missing = STEPS - decisions.size;
  const row = { steps: STEPS, decided: decisions.size, missing, p50: percentile(lateness, 0.5), p99: percentile(lateness, 0.99), max: lateness.at(-1) };
  const notes = [];
  if (missing > 0) notes.push(`step deadlines: ${missing} of ${STEPS} steps had no StepOverdue decision within ${SETTLE_MS / 1000} s`);
  if (lateness[0] < 0) notes.push(`step deadlines: a decision came before its deadline (${fmt.ms(lateness[0])} ms)`);
  if (!(row.p99 < AIM_P99_MS)) notes.push(`step deadlines: p99 ${fmt.ms(row.p99)} ms late (aim < ${AIM_P99_MS} ms)`);
  return {
    rows: [],
    notes,
    print() {
      console.log();
      console.log(`step deadlines: deadline to decision (${STEPS} steps, ${DEADLINE_SECONDS} s deadlines, in_flight reports over ${fmt.ms(reported)} ms, no Cron tick)`);
      printTable(
        ["steps", "decided", "missing", "p50 ms late", "p99 ms late", "max ms late", `p99 < ${AIM_P99_MS} ms`],
        [[row.steps, row.decided, row.missing, fmt.ms(row.p50), fmt.ms(row.p99), fmt.ms(row.max), row.p99 < AIM_P99_MS ? "yes" : "NO"]],
      );
    },
  };
}

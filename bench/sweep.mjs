// The watcher tick at scale. For each size N, procedure_summary is emptied and
// seeded directly in D1 (POST /__bench/seed: multi-row INSERT ... SELECT over
// json_each, never through the API) with N procedures in conduct, 1% of them
// newly stalled; then one tick (POST /__bench/tick: runTick from
// src/watcher/sweep with the watcher enabled) and a second tick a minute later
// over the same population. The stalled Running candidates get one object
// read each (the fold), so the seed gives just those a real object (registered
// and started by RPC, no activity; their D1 rows backdated): the fold reads a
// Running procedure with an empty logbook and the candidate is flagged. The
// other 99% have rows only. Aim: rows read per tick follow the candidates, not
// N (the second tick reads almost nothing), and a 100,000-procedure tick stays
// well inside a Cron invocation's limits (30 s CPU by default, 15 min wall).
import { benchPost, fmt, measure, printTable } from "./lib.mjs";

export const title = "watcher tick at scale";

const STALE_AFTER_SECONDS = 3600;
const HELD_STALE_AFTER_SECONDS = 86400;
const STALLED_FRACTION = 0.01;
const HELD_FRACTION = 0.1;
/** Rows per seed request (the Worker splits them into 1,000-row statements, 10 per D1 batch). */
const SEED_SLICE = 25_000;
/** Cron Trigger limits: CPU 30 s by default (configurable up to 5 min), wall 15 min. */
const CRON_CPU_MS = 30_000;


/**
 * One tick through /__bench/tick, timed from the client; measure() adds the
 * CPU wrangler + workerd used meanwhile: an upper bound for the tick's own CPU,
 * since it also holds local D1's SQLite work and the objects the fold reads.
 */
async function tick(baseUrl, nowMs) {
  let summary = null;
  const timed = await measure(`tick at ${nowMs}`, 1, 1, async () => {
    summary = await benchPost(baseUrl, "/__bench/tick", {
      now_ms: nowMs,
      stale_after_seconds: STALE_AFTER_SECONDS,
      held_stale_after_seconds: HELD_STALE_AFTER_SECONDS,
    });
  });
  if (timed.firstError) throw timed.firstError;
  if (summary.outcome !== "ran") throw new Error(`the tick did not run: outcome ${summary.outcome}`);
  return { ...summary, client_ms: timed.p50, cpu_ms: timed.serviceCpuMsPerRequest, other_cpu: timed.otherCpuShare };
}

/** Answers {rows: [], notes, print}: the sweep has its own table. */
export async function run({ baseUrl, opts }) {
  const notes = [];
  const results = [];
  for (const size of opts.sweepSizes) {
    // A fixed clock per size; the seed places every row relative to it.
    const nowMs = Date.now();
    const stalled = Math.round(size * STALLED_FRACTION);
    await benchPost(baseUrl, "/__bench/clear");
    const t0 = performance.now();
    const seeded = { objects: 0, objectsMs: 0, rowsMs: 0 };
    for (let done = 0; done < size; done += SEED_SLICE) {
      const count = Math.min(SEED_SLICE, size - done);
      // Spread the stalled rows over the slices in proportion.
      const stalledHere = Math.round(((done + count) * stalled) / size) - Math.round((done * stalled) / size);
      const answer = await benchPost(baseUrl, "/__bench/seed", {
        count,
        stalled: stalledHere,
        held_fraction: HELD_FRACTION,
        now_ms: nowMs,
        stale_after_seconds: STALE_AFTER_SECONDS,
        held_stale_after_seconds: HELD_STALE_AFTER_SECONDS,
      });
      seeded.objects += answer.objects;
      seeded.objectsMs += answer.objects_ms;
      seeded.rowsMs += answer.rows_ms;
    }
    const seedSeconds = (performance.now() - t0) / 1000;
    console.log(
      `bench:   ${size} procedures seeded in ${seedSeconds.toFixed(1)} s ` +
        `(D1 rows ${(seeded.rowsMs / 1000).toFixed(1)} s, ${seeded.objects} objects ${(seeded.objectsMs / 1000).toFixed(1)} s); ticking ...`,
    );

    const first = await tick(baseUrl, nowMs);
    const second = await tick(baseUrl, nowMs + 60_000);
    results.push({ size, stalled, seedSeconds, seeded, first, second });

    if (first.flagged !== stalled) notes.push(`sweep ${size}: first tick flagged ${first.flagged}, expected the ${stalled} stalled`);
    if (first.deferred > 0) notes.push(`sweep ${size}: first tick deferred ${first.deferred}`);
    if (first.skipped > 0) notes.push(`sweep ${size}: first tick skipped ${first.skipped} candidates after reading their objects`);
    if (second.candidates > 0 || second.flagged > 0) {
      notes.push(`sweep ${size}: second tick saw ${second.candidates} candidates and flagged ${second.flagged}; expected none`);
    }
  }

  const print = () => {
    console.log();
    console.log(
      `Watcher tick: procedures in conduct seeded in D1 (${fmt.percent(1 - HELD_FRACTION)} Running, ${fmt.percent(HELD_FRACTION)} Held by an operator), ` +
        `${fmt.percent(STALLED_FRACTION)} newly stalled; second tick 60 s later`,
    );
    printTable(
      [
        "in conduct", "newly stalled", "seed s", "objects",
        "1st: ms", "client ms", "svc CPU ms", "D1 rows read", "candidates", "object reads", "flagged", "pages",
        "2nd: ms", "client ms", "svc CPU ms", "D1 rows read", "candidates",
      ],
      results.map((r) => [
        r.size, r.stalled, r.seedSeconds.toFixed(1), r.seeded.objects,
        r.first.duration_ms, fmt.ms(r.first.client_ms), fmt.rps(r.first.cpu_ms), r.first.rows_read ?? "-", r.first.candidates, r.first.object_reads, r.first.flagged, r.first.pages,
        r.second.duration_ms, fmt.ms(r.second.client_ms), fmt.rps(r.second.cpu_ms), r.second.rows_read ?? "-", r.second.candidates,
      ]),
    );
    console.log();
    console.log(`"ms": the tick's own duration_ms (wall, inside the Worker); "client ms": the /__bench/tick round trip;`);
    console.log(`"svc CPU ms": CPU of wrangler + workerd during the tick, an upper bound of the tick's own CPU (it also holds`);
    console.log(`local D1's SQLite work and the objects the fold reads, which a deployed Worker is not billed for).`);
    console.log(`"D1 rows read": the sum of meta.rows_read over the tick's page queries. Aim: rows read follow the`);
    console.log(`candidates, not the procedures in conduct, and a tick stays well inside a Cron invocation's limits`);
    console.log(`(${CRON_CPU_MS / 1000} s CPU by default, 15 min wall). Local workerd and local D1: wall time is indicative.`);
    console.log(`"seed s": D1 rows (multi-row INSERT over json_each, 1,000 rows per statement) plus "objects": the stalled`);
    console.log(`Running procedures, the only ones the fold reads, get a real object (registered and started by RPC, no activity).`);
  };

  return { rows: [], notes, print };
}

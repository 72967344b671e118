// The watcher tick at scale. For each size N, procedure_summary is emptied and
// seeded directly in D1 (POST /__bench/seed: multi-row INSERT ... SELECT over
// json_each, never through the API) with N procedures in conduct, 1% of them
// newly stalled; then ticks a minute apart (POST /__bench/tick: runTick from
// src/watcher/sweep with the watcher enabled and the service's own candidate
// cap, WATCHER_MAX_CANDIDATES) until a tick finds nothing left to flag. A tick
// judges at most the cap, so a backlog larger than the cap drains over
// several ticks, oldest first: the section prints how many ticks that took
// and each tick's figures. The stalled Running candidates get one object
// read each (the fold), so the seed gives just those a real object
// (registered and started by RPC, no activity; their D1 rows backdated): the
// fold reads a Running procedure with an empty logbook and the candidate is
// flagged. The other 99% have rows only. Aim: rows read per tick follow the
// candidates, not N (the drained tick reads almost nothing), and a tick stays
// well inside a Cron invocation's limits (30 s CPU by default, 15 min wall).
// It fails only on a real violation: a tick judging more than the cap, rows
// read not following the candidates, or a stalled procedure still unflagged
// once the backlog should have drained.
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
 * Rows a tick may read beyond one per candidate: each window's page query
 * reads one row past its last, plus the count of rows without a status time.
 * Far below what reading the population would cost at the smallest size.
 */
const ROWS_SLACK = 16;
/** Ticks past the ceil(stalled / cap) a drain should take before the section gives up. */
const EXTRA_TICKS = 2;


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

    // Ticks a minute apart until one finds nothing left to flag, bounded by
    // what the cap allows: ceil(stalled / cap) ticks flag the backlog, and
    // one more confirms it is gone.
    const ticks = [];
    let flagged = 0;
    let bound = null;
    for (;;) {
      const t = await tick(baseUrl, nowMs + ticks.length * 60_000);
      ticks.push(t);
      flagged += t.flagged;
      const cap = t.max_candidates;
      bound ??= Math.ceil(stalled / cap) + EXTRA_TICKS;
      const n = ticks.length;
      if (t.candidates > cap) notes.push(`sweep ${size}: tick ${n} judged ${t.candidates} candidates, over the cap of ${cap}`);
      const rowsCeiling = 2 * t.candidates + t.pages + ROWS_SLACK;
      if ((t.rows_read ?? 0) > rowsCeiling) {
        notes.push(`sweep ${size}: tick ${n} read ${t.rows_read} D1 rows for ${t.candidates} candidates in ${t.pages} pages; rows do not follow the candidates`);
      }
      if (t.deferred > 0) notes.push(`sweep ${size}: tick ${n} deferred ${t.deferred}`);
      if (t.skipped > 0) notes.push(`sweep ${size}: tick ${n} skipped ${t.skipped} candidates after reading their objects`);
      if (t.failures > 0) notes.push(`sweep ${size}: tick ${n} had ${t.failures} failures`);
      if (t.flagged === 0 && !t.capped) break;
      if (n >= bound) break;
    }
    const drainedAt = ticks.findIndex((t) => t.flagged === 0 && !t.capped);
    const last = ticks[ticks.length - 1];
    results.push({ size, stalled, seedSeconds, seeded, ticks, flagged, cap: ticks[0].max_candidates });

    if (flagged !== stalled) notes.push(`sweep ${size}: ${ticks.length} ticks flagged ${flagged}, expected the ${stalled} stalled`);
    if (drainedAt < 0) notes.push(`sweep ${size}: still flagging after ${ticks.length} ticks (cap ${ticks[0].max_candidates})`);
    else if (last.candidates > 0) notes.push(`sweep ${size}: the drained tick saw ${last.candidates} candidates; expected none`);
  }

  const print = () => {
    console.log();
    console.log(
      `Watcher ticks: procedures in conduct seeded in D1 (${fmt.percent(1 - HELD_FRACTION)} Running, ${fmt.percent(HELD_FRACTION)} Held by an operator), ` +
        `${fmt.percent(STALLED_FRACTION)} newly stalled; ticks 60 s apart until one finds nothing left to flag`,
    );
    printTable(
      ["in conduct", "newly stalled", "seed s", "objects", "cap", "ticks to drain", "flagged"],
      results.map((r) => [r.size, r.stalled, r.seedSeconds.toFixed(1), r.seeded.objects, r.cap, r.ticks.length, r.flagged]),
    );
    console.log();
    console.log("Each tick:");
    printTable(
      ["in conduct", "tick", "ms", "client ms", "svc CPU ms", "D1 rows read", "candidates", "object reads", "flagged", "pages", "capped"],
      results.flatMap((r) =>
        r.ticks.map((t, i) => [
          r.size, i + 1, t.duration_ms, fmt.ms(t.client_ms), fmt.rps(t.cpu_ms), t.rows_read ?? "-", t.candidates, t.object_reads, t.flagged, t.pages, t.capped ? "yes" : "no",
        ]),
      ),
    );
    console.log();
    console.log(`"ticks to drain": the ticks until one flagged nothing and was not capped, that last one included.`);
    console.log(`A tick judges at most "cap" candidates (WATCHER_MAX_CANDIDATES); a larger backlog is worked off over`);
    console.log(`the following ticks, oldest first ("capped": the tick stopped at the cap).`);
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

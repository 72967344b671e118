// Retention at scale: a population of procedures seeded in bulk in local D1
// (one recursive INSERT per 100,000 rows; 90% finished and already archived,
// 10% Running and fresh, on 1,000 target assets), then, against it: the list's
// first page, a page by asset, one watcher tick, and one archive pass over
// 1,000 real finished procedures (registered, started and completed through
// their objects), timed until every one has archived itself. Each line gives
// D1's rows read. Aim: each request's rows read independent of the population;
// an archive pass's cost proportional to what it archives.
import { benchPost as post, fmt, printTable } from "./lib.mjs";

export const title = "retention at scale";

const SLICE = 100_000;
const ASSETS = 1_000;
const ARCHIVE_SECONDS = 2_592_000;

const timed = async (fn) => {
  const t0 = performance.now();
  const value = await fn();
  return { ...value, client_ms: performance.now() - t0 };
};

export async function run({ baseUrl, opts }) {
  const notes = [];
  const size = opts.retentionSize;
  const archiveCount = opts.retentionArchive;
  const nowMs = Date.now();
  await post(baseUrl, "/__bench/clear");

  const t0 = performance.now();
  for (let from = 0; from < size; from += SLICE) {
    await post(baseUrl, "/__bench/retention/seed-population", { from, count: Math.min(SLICE, size - from), assets: ASSETS, now_ms: nowMs });
    if (opts.verbose) console.log(`bench:   ${Math.min(from + SLICE, size)} of ${size} seeded`);
  }
  const seedSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const finished = await post(baseUrl, "/__bench/retention/seed-finished", { count: archiveCount });
  const objectsSeconds = (performance.now() - t1) / 1000;
  console.log(`bench:   ${size} procedures seeded in ${seedSeconds.toFixed(1)} s, ${finished.objects} finished objects in ${objectsSeconds.toFixed(1)} s; measuring ...`);

  const lines = [];
  const first = await timed(() => post(baseUrl, "/__bench/retention/list", { limit: 50 }));
  lines.push(["list: first page (50)", first.rows, first.rows_read, first.ms, first.client_ms]);
  const byAsset = await timed(() => post(baseUrl, "/__bench/retention/list", { limit: 50, target_asset_id: "bench-asset-7" }));
  lines.push(["list: first page by asset (50)", byAsset.rows, byAsset.rows_read, byAsset.ms, byAsset.client_ms]);
  const tick = await timed(() => post(baseUrl, "/__bench/tick", { now_ms: nowMs, stale_after_seconds: 3600, held_stale_after_seconds: 86400 }));
  lines.push(["watcher tick", tick.candidates, tick.rows_read ?? "-", tick.duration_ms, tick.client_ms]);

  // The pass hands the finished objects over; each then archives itself from its schedule.
  const passAt = nowMs + (ARCHIVE_SECONDS + 86_400) * 1000;
  const pass = await timed(() => post(baseUrl, "/__bench/retention/archive", { now_ms: passAt, batch: archiveCount }));
  lines.push([`archive pass (hands over ${archiveCount})`, pass.requested, pass.rows_read, pass.ms, pass.client_ms]);
  const t2 = performance.now();
  let archived = 0;
  while (performance.now() - t2 < 600_000) {
    archived = (await post(baseUrl, "/__bench/retention/archived")).archived;
    if (archived >= archiveCount) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const archiveSeconds = (performance.now() - t2) / 1000;
  lines.push([`objects archived (export, R2 put, verify, release)`, archived, "-", "-", archiveSeconds * 1000 + pass.client_ms]);
  const idle = await timed(() => post(baseUrl, "/__bench/retention/archive", { now_ms: passAt + 60_000, batch: archiveCount }));
  lines.push(["next archive pass (nothing due)", idle.candidates, idle.rows_read, idle.ms, idle.client_ms]);

  if (pass.requested !== archiveCount) notes.push(`retention: the pass handed over ${pass.requested} of ${archiveCount}`);
  if (archived < archiveCount) notes.push(`retention: ${archived} of ${archiveCount} archived within 600 s`);

  const print = () => {
    console.log();
    console.log(`Retention at scale: ${size.toLocaleString("en")} procedures in local D1 (90% finished and archived, 10% Running), ${ASSETS} assets; seeded in ${seedSeconds.toFixed(1)} s`);
    printTable(
      ["operation", "rows", "D1 rows read", "ms (in Worker)", "client ms"],
      lines.map(([label, rows, read, ms, client]) => [label, rows, read, typeof ms === "number" ? fmt.ms(ms) : ms, fmt.ms(client)]),
    );
    console.log();
    console.log(`"D1 rows read": meta.rows_read of the statement(s). The archive pass's rows read covers reading its`);
    console.log(`batch from the archive index and marking it; "objects archived" is the wall time until every object`);
    console.log(`had archived itself and marked its row. Local workerd, local D1 and local R2: times are indicative.`);
  };
  return { rows: [], notes, print };
}

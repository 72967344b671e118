// The procedure list's orders and search at scale. procedure_summary is
// emptied and seeded directly in D1 (POST /__bench/seed, as the sweep section
// does) with N procedures in conduct (10% Held), plus 20 whose names carry a
// rare word, written through the projection's upsert; then the first page
// (50 rows) of each order, and of a search for the rare word and for a word
// every procedure's name has, runs as GET /v1/procedures runs it
// (POST /__bench/list), summing meta.rows_read over its statements.
// Aim: every order reads about a page of rows, and a search reads about its
// matches (the full-text index), never the whole projection.
import { benchPost, printTable } from "./lib.mjs";

export const title = "list orders and search at scale";

const LIMIT = 50;
const SEED_SLICE = 25_000;


/** Answers {rows: [], notes, print}: the listing has its own table. */
export async function run({ baseUrl, opts }) {
  const notes = [];
  const results = [];
  const size = opts.sweepSizes[opts.sweepSizes.length - 1];
  await benchPost(baseUrl, "/__bench/clear");
  const nowMs = Date.now();
  for (let done = 0; done < size; done += SEED_SLICE) {
    const count = Math.min(SEED_SLICE, size - done);
    await benchPost(baseUrl, "/__bench/seed", { count, stalled: 0, held_fraction: 0.1, now_ms: nowMs, stale_after_seconds: 3600, held_stale_after_seconds: 86400 });
  }
  await benchPost(baseUrl, "/__bench/named", { word: "needle", count: 20 });
  const cases = [
    ["order=oldest", { order: "oldest" }],
    ["order=newest", { order: "newest" }],
    ["order=attention", { order: "attention" }],
    ["q=needle (20 match)", { order: "newest", q: "needle" }],
    ["q=nee (prefix, 20 match)", { order: "newest", q: "nee" }],
    [`q=bench (all ${size} match)`, { order: "newest", q: "bench" }],
  ];
  for (const [label, body] of cases) {
    const page = await benchPost(baseUrl, "/__bench/list", { ...body, limit: LIMIT });
    results.push({ label, ...page });
  }
  for (const r of results.slice(0, 5)) {
    if (r.rows_read > 4 * (LIMIT + 1)) notes.push(`listing ${r.label}: read ${r.rows_read} rows for a page of ${LIMIT}`);
  }
  const print = () => {
    console.log();
    console.log(`Procedure list at ${size} procedures in D1 (+20 named "needle …"), first page of ${LIMIT}`);
    printTable(
      ["query", "rows", "statements", "D1 rows read", "ms"],
      results.map((r) => [r.label, r.rows, r.statements, r.rows_read, r.ms]),
    );
    console.log(`"D1 rows read": meta.rows_read summed over the page's statements. A search for a word every procedure`);
    console.log(`shares reads every match to order them: the search box narrows, the orders page.`);
  };
  return { rows: [], notes, print };
}

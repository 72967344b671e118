// npm run bench: starts the service with the bench Worker (bench/worker.ts),
// measures the bare-insert baseline, then each section, and prints one table
// with every row's ratio to the baseline. Figures go to stdout only.
//
//   npm run bench -- [--requests N] [--concurrency C] [--objects M] [--warmup W]
//                    [--ingest-batches B] [--ingest-concurrency C] [--ingest-warmup W]
//                    [--sweep-sizes 1000,10000,100000] [--retention-size N] [--retention-archive N]
//                    [--sections lifecycle,floor,ingest,sweep,listing,auth,notifications,streams,mcp,deadlines,retention]
//                    [--telemetry on|off] [--inspector on|off] [--sockets proxy|direct] [--verbose] [--keep]
//   (or the BENCH_* variables named in USAGE)
//
// A section is a module exporting `title` and `run(ctx)` that answers
// {rows: [{result, base: "one" | "many"}], notes: string[], print?()}, where
// result comes from measure() in ./lib.mjs and base names the baseline it is
// compared with (one object, or spread over `objects` objects). A section
// whose figures do not fit the common table (ingest, sweep) answers no rows
// and a print() that prints its own table after it. A section that compares
// rows with the single-insert baseline exports `usesBaseline = true`; the
// baseline is measured only when such a section runs. Add new ones to SECTIONS.
// The floor section also answers `floorRatio`, the least a command over many
// procedures can cost, which the lifecycle section's aims are checked against.
import { parseArgs } from "node:util";
import * as auth from "./auth.mjs";
import * as baseline from "./baseline.mjs";
import * as deadlines from "./deadlines.mjs";
import * as floor from "./floor.mjs";
import { client, fmt, optionReader, printTable, startServer } from "./lib.mjs";
import * as ingest from "./ingest.mjs";
import * as lifecycle from "./lifecycle.mjs";
import * as listing from "./listing.mjs";
import * as mcp from "./mcp.mjs";
import * as notifications from "./notifications.mjs";
import * as streams from "./streams.mjs";
import * as sweep from "./sweep.mjs";
import * as retention from "./retention.mjs";

const SECTIONS = { lifecycle, floor, ingest, sweep, listing, auth, notifications, streams, mcp, deadlines, retention };
const AIM = 2;
/** One busy procedure's hold/resume: at most this much of the bare insert's Worker CPU. */
const AIM_BUSY = 1.3;
/** Hold/resume over many procedures: at most this much of its floor (the bare insert, one D1 upsert, one queue send). */
const AIM_OVER_FLOOR = 1.1;

const USAGE = `usage: npm run bench -- [options]
  --requests N     measured requests per scenario        (BENCH_REQUESTS, default 2000)
  --concurrency C  requests in flight                    (BENCH_CONCURRENCY, default 16)
  --objects M      objects/procedures for "many" rows    (BENCH_OBJECTS, default 100)
  --warmup W       unmeasured requests before each row   (BENCH_WARMUP, default 200)
  --ingest-batches B      measured batches of 500 entries per ingest row (BENCH_INGEST_BATCHES, default 300)
  --ingest-concurrency C  batches in flight                  (BENCH_INGEST_CONCURRENCY, default 4)
  --ingest-warmup W       unmeasured batches before each ingest row (BENCH_INGEST_WARMUP, default 8)
  --sweep-sizes LIST      procedures in conduct per watcher tick    (BENCH_SWEEP_SIZES, default 1000,10000,100000; the listing section seeds the largest)
  --retention-size N       procedures seeded for the retention section  (BENCH_RETENTION_SIZE, default 1000000)
  --retention-archive N    finished procedures one archive pass archives (BENCH_RETENTION_ARCHIVE, default 1000)
  --sections LIST         which sections to run          (BENCH_SECTIONS, default lifecycle,floor,ingest,sweep,listing,auth,notifications,streams,mcp,deadlines; retention runs only when named)
  --telemetry on|off      the service's log lines and metrics (TELEMETRY_ENABLED); off to measure what they cost
                                                         (BENCH_TELEMETRY, default on)
  --inspector on|off      serve without wrangler dev's inspector (off: wrangler's API, bench/serve-worker.mjs), as a
                          deployment runs, or with it (on, as \`wrangler dev\` does: every console line then crosses the
                          DevTools protocol and V8 tracks async stacks, which a deployment pays for neither of)
                                                         (BENCH_INSPECTOR, default off)
  --sockets proxy|direct  where the streams section opens its WebSockets: through wrangler's dev proxy, as \`npm start\`
                          serves them (proxy), or straight to the Worker (direct, with --inspector off: a deployment has
                          no dev proxy relaying every frame through a second local runtime on the same cores)
                                                         (BENCH_SOCKETS, default proxy)
  --verbose        show wrangler's output
  --keep           keep the temporary state directory`;

function options() {
  const { values } = parseArgs({
    options: {
      requests: { type: "string", short: "n" },
      concurrency: { type: "string" },
      objects: { type: "string" },
      warmup: { type: "string" },
      "ingest-batches": { type: "string" },
      "ingest-concurrency": { type: "string" },
      "ingest-warmup": { type: "string" },
      "sweep-sizes": { type: "string" },
      "retention-size": { type: "string" },
      "retention-archive": { type: "string" },
      sections: { type: "string" },
      telemetry: { type: "string" },
      inspector: { type: "string" },
      sockets: { type: "string" },
      verbose: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const { int, choice } = optionReader(values);
  const list = (name, env, fallback) =>
    (values[name] ?? process.env[env] ?? fallback)
      .split(",")
      .map((v) => v.trim())
      .filter(Boolean);
  const sizes = list("sweep-sizes", "BENCH_SWEEP_SIZES", "1000,10000,100000").map((raw) => {
    const value = Number(raw.replace(/_/g, ""));
    if (!Number.isInteger(value) || value < 100) throw new Error(`--sweep-sizes (BENCH_SWEEP_SIZES) takes integers >= 100, got ${raw}`);
    return value;
  });
  // The retention section seeds a million procedures: it runs only when named.
  const sections = list("sections", "BENCH_SECTIONS", Object.keys(SECTIONS).filter((name) => name !== "retention").join(","));
  for (const name of sections) {
    if (!SECTIONS[name]) throw new Error(`--sections (BENCH_SECTIONS): unknown section ${name}; known: ${Object.keys(SECTIONS).join(", ")}`);
  }
  const telemetry = choice("telemetry", "BENCH_TELEMETRY", "on", ["on", "off"]);
  const inspector = choice("inspector", "BENCH_INSPECTOR", "off", ["on", "off"]);
  const sockets = choice("sockets", "BENCH_SOCKETS", "proxy", ["proxy", "direct"]);
  if (sockets === "direct" && inspector === "on") throw new Error("--sockets direct needs --inspector off (the Worker's own address comes from wrangler's API)");
  return {
    telemetry,
    inspector,
    sockets,
    requests: int("requests", "BENCH_REQUESTS", 2000, 1),
    concurrency: int("concurrency", "BENCH_CONCURRENCY", 16, 1),
    objects: int("objects", "BENCH_OBJECTS", 100, 1),
    warmup: int("warmup", "BENCH_WARMUP", 200, 0),
    ingestBatches: int("ingest-batches", "BENCH_INGEST_BATCHES", 300, 1),
    ingestConcurrency: int("ingest-concurrency", "BENCH_INGEST_CONCURRENCY", 4, 1),
    ingestWarmup: int("ingest-warmup", "BENCH_INGEST_WARMUP", 8, 0),
    sweepSizes: sizes,
    retentionSize: int("retention-size", "BENCH_RETENTION_SIZE", 1_000_000, 1_000),
    retentionArchive: int("retention-archive", "BENCH_RETENTION_ARCHIVE", 1_000, 1),
    sections,
    verbose: values.verbose,
    keep: values.keep,
  };
}

function nonOk(result) {
  const parts = Object.entries(result.outcomes)
    .filter(([k]) => k !== "ok")
    .map(([k, v]) => `${v} ${k}`);
  return parts.length ? parts.join(", ") : "0";
}

/** A busier machine than this (work outside the bench and the service) gets a warning. */
const BUSY_SHARE = 0.1;

function report(base, sections, opts, byName) {
  const header = [
    "scenario", "objects", "requests", "in flight", "req/s", "p50 ms", "p99 ms", "not ok",
    "svc CPU ms/req", "other CPU", "p50 / base", "base req/s / req/s", "Worker CPU / base", "within 2x",
  ];
  const row = (r, b) => {
    const p50Ratio = r.p50 / b.p50;
    const costRatio = b.rps / r.rps;
    const within = r === b ? "(baseline)" : p50Ratio <= AIM && costRatio <= AIM ? "yes" : "NO";
    return [
      r.label, r.objects, r.n, r.concurrency, fmt.rps(r.rps), fmt.ms(r.p50), fmt.ms(r.p99), nonOk(r),
      fmt.ms(r.serviceCpuMsPerRequest), fmt.percent(r.otherCpuShare),
      fmt.ratio(p50Ratio), fmt.ratio(costRatio), fmt.ratio(r.workerCpuMsPerRequest / b.workerCpuMsPerRequest), within,
    ];
  };
  const tabled = sections.flatMap((s) => s.rows.map((r) => r.result));
  const all = [...(base ? [base.one, base.many] : []), ...tabled, ...sections.flatMap((s) => s.measured ?? [])];
  if (base) {
    const rows = [row(base.one, base.one), row(base.many, base.many)];
    for (const section of sections) for (const { result, base: key } of section.rows) rows.push(row(result, base[key]));
    console.log();
    printTable(header, rows);
    console.log();
    if (tabled.length > 0) {
      console.log(`"within 2x": the first aim, "p50 / base" and "base req/s / req/s" at most ${AIM.toFixed(2)}x.`);
      console.log(`Each row is compared with the baseline over the same number of objects (1, or spread over ${base.many.objects}).`);
      console.log(`"Worker CPU / base": the CPU of the workerd process that runs the Worker (its objects, queues and local D1), without wrangler's`);
      console.log(`Node process (which prints every log line) or its dev proxy (a second workerd relaying each request); a deployment has neither.`);
    }
    console.log(`"svc CPU ms/req": CPU of the local service (its Node process and workerd) per request;`);
    console.log(`"other CPU": share of the machine used meanwhile by anything but the bench and the service.`);
  }
  for (const section of sections) section.print?.();
  if (tabled.length > 0) {
    console.log();
    console.log(`The Worker's own CPU beside the whole local service's (logs and metrics ${opts.telemetry}):`);
    printTable(["scenario", "svc CPU ms/req", "Worker CPU ms/req"], [...(base ? [base.one, base.many] : []), ...tabled].map((r) => [r.label, fmt.ms(r.serviceCpuMsPerRequest), fmt.ms(r.workerCpuMsPerRequest)]));
  }
  const busy = all.filter((r) => r.otherCpuShare > BUSY_SHARE);
  if (busy.length) {
    console.log(`warning: other work used > ${fmt.percent(BUSY_SHARE)} of the CPU during: ${busy.map((r) => `"${r.label}"`).join(", ")}; those figures are noisy, rerun on an idle machine.`);
  }
  const aimNotes = lifecycleAims(base, byName.lifecycle, byName.floor);
  const notes = [...sections.flatMap((s) => s.notes ?? []), ...aimNotes];
  for (const note of notes) console.log(`note: ${note}`);
  const errors = tabled.concat(base ? [base.one, base.many] : []).filter((r) => r.errors > 0);
  for (const r of errors) console.log(`errors in "${r.label}": ${r.errors}; first: ${r.firstError?.message ?? r.firstError}`);
  return errors.length === 0 && notes.length === 0;
}

/**
 * The lifecycle command's CPU aims, in the Worker's own CPU: one busy
 * procedure next to the bare insert, and many procedures next to the floor
 * the floor section measured. Prints each figure beside its aim; answers a
 * note per aim missed.
 */
function lifecycleAims(base, lifecycle, floor) {
  if (!base || !lifecycle) return [];
  // Its rows, by the baseline each is compared with: one procedure, and many.
  const row = (key) => lifecycle.rows.find((r) => r.base === key).result;
  const [one, many] = [row("one"), row("many")];
  const cpu = (r) => r.workerCpuMsPerRequest;
  const floorRatio = floor?.floorRatio;
  const aims = [{ label: `${one.label}, Worker CPU / bare insert`, value: cpu(one) / cpu(base.one), aim: AIM_BUSY }];
  if (floorRatio !== undefined) {
    aims.push({ label: `${many.label}, Worker CPU / its floor (${fmt.ratio(floorRatio)} the bare insert)`, value: cpu(many) / cpu(base.many) / floorRatio, aim: AIM_OVER_FLOOR });
  }
  console.log();
  printTable(["aim", "measured", "at most"], aims.map((a) => [a.label, fmt.ratio(a.value), fmt.ratio(a.aim)]));
  if (floorRatio === undefined) console.log("(run the floor section too for the aim over many procedures)");
  return aims.filter((a) => !(a.value <= a.aim)).map((a) => `lifecycle: ${a.label} is ${fmt.ratio(a.value)} (aim <= ${fmt.ratio(a.aim)})`);
}

async function main() {
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major < 22 || (major === 22 && minor < 12)) {
    throw new Error(`Node ${process.versions.node} is too old for wrangler; run with PATH=$PWD/node_modules/.bin:$PATH npm run bench`);
  }
  const opts = options();
  const started = performance.now();
  console.log(
    `bench: ${opts.requests} requests per scenario, ${opts.concurrency} in flight, ${opts.objects} objects for "many", ${opts.warmup} warm-up; ` +
      `ingest ${opts.ingestBatches} batches of 500, ${opts.ingestConcurrency} in flight; sweep ${opts.sweepSizes.join(", ")}; ` +
      `logs and metrics ${opts.telemetry}; inspector ${opts.inspector}; sockets ${opts.sockets}; starting wrangler dev ...`,
  );
  const server = await startServer({
    verbose: opts.verbose,
    keep: opts.keep,
    vars: { TELEMETRY_ENABLED: String(opts.telemetry === "on") },
    inspector: opts.inspector === "on",
  });
  const onSignal = (signal) => {
    console.error(`bench: ${signal}, stopping wrangler ...`);
    server.stop().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let ok = false;
  try {
    console.log(`bench: serving on ${server.baseUrl} (state in ${server.dir}) after ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (server.workerPid === null) console.log("bench: the Worker's own runtime was not found: \"Worker CPU\" counts every workerd, wrangler's dev proxy too");
    const socketUrl = opts.sockets === "direct" ? server.workerUrl : server.baseUrl;
    if (socketUrl === null) throw new Error("--sockets direct: the Worker's own address did not show in wrangler's output");
    const ctx = { baseUrl: server.baseUrl, socketUrl, token: server.token, call: client(server.baseUrl, server.token), opts };
    const sections = opts.sections.map((name) => SECTIONS[name]);
    let base = null;
    if (sections.some((s) => s.usesBaseline)) {
      console.log("bench: baseline ...");
      base = await baseline.run(ctx);
    }
    ctx.base = base;
    const results = [];
    for (const section of sections) {
      console.log(`bench: ${section.title} ...`);
      results.push(await section.run(ctx));
    }
    ok = report(base, results, opts, Object.fromEntries(opts.sections.map((name, i) => [name, results[i]])));
  } catch (error) {
    console.error(`bench: failed: ${error.stack ?? error}`);
    const output = server.output().trim();
    if (output) console.error(`--- wrangler dev output (last lines) ---\n${output}`);
  } finally {
    await server.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  console.log(`\nbench: took ${((performance.now() - started) / 1000).toFixed(1)} s in all`);
  process.exitCode = ok ? 0 : 1;
}

main().catch((error) => {
  console.error(`bench: ${error.message ?? error}`);
  process.exitCode = 1;
});

// npm run fuzz:schemathesis: a fuzzer written by others against the document
// the service serves. It builds .venv-schemathesis/ from the pinned
// scripts/schemathesis-requirements.txt when the venv is missing or the file
// changed, serves the service on a free port with throw-away state (the bench
// Worker: the service's handlers with rate limits no run reaches), and runs
// `schemathesis run` against /openapi.json as the admin: every check, every
// phase (examples, coverage, fuzzing, and the stateful phase over the
// document's links and those schemathesis infers), a fixed seed, 50 examples
// per operation.
// scripts/schemathesis.toml says what is configured rather than found.
//
//   npm run fuzz:schemathesis -- [--seed N] [--max-examples N] [--verbose] [--keep]
//
// Exits with schemathesis's own code: 0 when it found nothing. A run that
// takes longer than the bound is stopped and fails.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { ROOT, startServer } from "../bench/lib.mjs";

const VENV = join(ROOT, ".venv-schemathesis");
const REQUIREMENTS = join(ROOT, "scripts", "schemathesis-requirements.txt");
const CONFIG = join(ROOT, "scripts", "schemathesis.toml");
/** The requirements' hash the venv was built from. */
const STAMP = join(VENV, "requirements.sha256");
const PYTHON = process.env.PYTHON ?? "python3";
/** The whole run, the service's start included, must end within this: about 3 min on an idle machine, 4 to 5 on a busy shared one. */
const BOUND_MS = 6 * 60_000;

const { values: args } = parseArgs({
  options: {
    seed: { type: "string", default: "16" },
    "max-examples": { type: "string", default: "50" },
    verbose: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
});

/**
 * Schemathesis closes on a pytest-style banner ("==== 2 warnings in 185.81s ====").
 * CI reads such a line as a test runner's count, and one that names no passed
 * test as a run that executed none; the banners are printed as schemathesis's
 * own lines instead ("schemathesis: 2 warnings, 185.81 s").
 */
function ownBanner(line) {
  const banner = /^=+ (.+?) =+$/.exec(line);
  if (!banner) return line;
  return `schemathesis: ${banner[1].replace(/ in ([\d.]+)s$/, ", $1 s")}`;
}

function run(command, argv) {
  const result = spawnSync(command, argv, { stdio: "inherit" });
  if (result.status !== 0) throw new Error(`${command} ${argv.join(" ")} exited with ${result.status ?? result.signal}`);
}

/** Builds the venv from the pinned requirements unless it was built from these very ones. */
function ensureVenv() {
  const wanted = createHash("sha256").update(readFileSync(REQUIREMENTS)).digest("hex");
  if (existsSync(STAMP) && readFileSync(STAMP, "utf8").trim() === wanted) return;
  console.log(`schemathesis: building ${VENV} from ${REQUIREMENTS} ...`);
  run(PYTHON, ["-m", "venv", "--clear", VENV]);
  // Every package is pinned in the file, so pip resolves nothing of its own.
  run(join(VENV, "bin", "pip"), ["install", "--quiet", "--disable-pip-version-check", "--no-deps", "--requirement", REQUIREMENTS]);
  writeFileSync(STAMP, `${wanted}\n`);
}

ensureVenv();
const started = Date.now();
const server = await startServer({ verbose: args.verbose, keep: args.keep });
let code = 1;
try {
  const argv = [
    "--config-file", CONFIG,
    "run", `${server.baseUrl}/openapi.json`,
    // No --checks: every check runs by default, and a selection on the command
    // line would override what scripts/schemathesis.toml sets per operation.
    "--phases", "examples,coverage,fuzzing,stateful",
    "--seed", args.seed,
    "--max-examples", args["max-examples"],
    "--header", `Authorization: Bearer ${server.token}`,
    "--generation-database", "none",
    "--no-color",
  ];
  // Unbuffered: through a pipe, Python would hold its output back, and a run stopped at the bound would lose it.
  const child = spawn(join(VENV, "bin", "schemathesis"), argv, { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, PYTHONUNBUFFERED: "1" } });
  createInterface({ input: child.stdout }).on("line", (line) => console.log(ownBanner(line)));
  const timer = setTimeout(() => {
    console.error(`schemathesis: still running after ${BOUND_MS / 1000} s: stopped`);
    child.kill("SIGKILL");
  }, BOUND_MS - (Date.now() - started));
  code = await new Promise((resolve) => child.on("close", (status, signal) => resolve(signal ? 1 : (status ?? 1))));
  clearTimeout(timer);
} finally {
  await server.stop();
}
console.log(`schemathesis: exit ${code} after ${Math.round((Date.now() - started) / 1000)} s`);
process.exit(code);

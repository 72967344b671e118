// Runs on whatever Node is on the PATH (the system Node on a fresh clone):
// installs dependencies only when they are missing or older than the lockfile,
// so `npm start` and `npm test` work straight after `git clone`.
import { spawnSync } from "node:child_process";
import { existsSync, statSync, utimesSync } from "node:fs";

const lockfile = "package-lock.json";
const installed = "node_modules/.package-lock.json";
const pinnedNode = "node_modules/.bin/node";

const stale =
  !existsSync(installed) ||
  !existsSync(pinnedNode) ||
  statSync(installed).mtimeMs < statSync(lockfile).mtimeMs;

if (stale) {
  console.log("preflight: installing dependencies from package-lock.json ...");
  // `npm install` rather than `npm ci`: npm omits other platforms' optional
  // workerd binaries from the lockfile, which `npm ci` then reports as missing.
  //
  // The install runs on an older Node by design (Node 24 is itself a
  // devDependency), so every package asking for Node 22+ draws an EBADENGINE
  // warning, and a user's engine-strict would refuse it: engine-strict=false,
  // and only errors are printed. A failed install still prints npm's errors
  // and stops the script that called this one.
  const result = spawnSync(
    "npm",
    ["install", "--no-audit", "--no-fund", "--engine-strict=false", "--loglevel=error"],
    { stdio: "inherit", shell: process.platform === "win32" },
  );
  if (result.status !== 0) {
    const why = result.error ? result.error.message : result.signal ?? `exit code ${result.status}`;
    console.error(`preflight: npm install failed (${why}); run \`npm install\` to see its full output`);
    process.exit(result.status || 1);
  }
  // npm leaves its record untouched when nothing changed; mark it current.
  if (existsSync(installed)) utimesSync(installed, new Date(), new Date());
}

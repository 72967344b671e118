// Runs on whatever Node is on the PATH (the system Node on a fresh clone):
// installs dependencies only when they are missing or older than the lockfile,
// so `npm start` and `npm test` work straight after `git clone`.
import { execSync } from "node:child_process";
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
  execSync("npm install --no-audit --no-fund", { stdio: "inherit" });
  // npm leaves its record untouched when nothing changed; mark it current.
  if (existsSync(installed)) utimesSync(installed, new Date(), new Date());
}

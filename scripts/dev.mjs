// `npm start`: migrate the local D1 database, make sure a local admin token
// exists, then serve the Worker with the Cron Trigger testable at
// /__scheduled (wrangler dev --test-scheduled).
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const LOCAL_ADMIN_TOKEN = "local-admin-token";

function run(args, options = {}) {
  const result = spawnSync("wrangler", args, { stdio: ["ignore", "inherit", "inherit"], ...options });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const devVars = ".dev.vars";

/** Adds `name` to .dev.vars unless it is already there. */
function ensureDevVar(name, value, shown) {
  const existing = existsSync(devVars) ? readFileSync(devVars, "utf8") : "";
  if (new RegExp(`^${name}=`, "m").test(existing)) return;
  const separator = existing === "" || existing.endsWith("\n") ? "" : "\n";
  writeFileSync(devVars, `${existing}${separator}${name}=${value}\n`);
  console.log(`dev: wrote ${name}=${shown} to ${devVars}`);
}

ensureDevVar("ADMIN_TOKEN", LOCAL_ADMIN_TOKEN, LOCAL_ADMIN_TOKEN);
// Every start says how to sign in to the console; a token of one's own choosing is not printed.
const adminToken = /^ADMIN_TOKEN=(.*)$/m.exec(readFileSync(devVars, "utf8"))?.[1]?.trim();
// `--var ADMIN_TOKEN:…` (or `--var=ADMIN_TOKEN:…`) overrides .dev.vars for this run.
const tokenGiven = process.argv.slice(2).some((arg) => /^(--var=)?ADMIN_TOKEN:/.test(arg));
console.log(
  tokenGiven
    ? "dev: sign in to the console (/console) with the ADMIN_TOKEN given with --var"
    : `dev: sign in to the console (/console) with the ADMIN_TOKEN in ${devVars}` + (adminToken === LOCAL_ADMIN_TOKEN ? `: ${LOCAL_ADMIN_TOKEN}` : ""),
);
// The key webhook signing secrets are encrypted under: random per clone, never printed.
ensureDevVar("WEBHOOK_SIGNING_KEY", randomBytes(32).toString("base64"), "(random)");

/**
 * Applies migrations/ to the local D1 database, saying in one line what it
 * applied. Wrangler prints the pending list and then the whole table again
 * after each migration; its full output is shown only when it fails. stdin is
 * not a terminal here, so wrangler applies without asking.
 */
function migrateLocal() {
  const result = spawnSync("wrangler", ["d1", "migrations", "apply", "DB", "--local"], { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  if (result.status !== 0) {
    process.stdout.write(result.stdout ?? "");
    process.stderr.write(result.stderr ?? "");
    process.exit(result.status ?? 1);
  }
  const pending = (result.stdout.split("Migrations to be applied:")[1] ?? "").split("About to apply")[0] ?? "";
  const names = [...pending.matchAll(/(\d{4}_[\w.-]+\.sql)/g)].map((m) => m[1]);
  console.log(names.length === 0 ? "dev: local D1 is up to date" : `dev: applied ${names.length} migration(s) to the local D1: ${names.join(", ")}`);
}

migrateLocal();
// The local runtime fetches a sample `Request.cf` object from the internet at
// each start and, offline, warns twice with a stack trace. The service reads
// no `request.cf`, so its placeholder is as good: no fetch, no warning
// (CLOUDFLARE_CF_FETCH_ENABLED=true in the environment fetches it again).
run(["dev", "--test-scheduled", ...process.argv.slice(2)], {
  stdio: "inherit",
  env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false" },
});

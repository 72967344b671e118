// `npm start`: migrate the local D1 database, make sure a local admin token
// exists, then serve the Worker with the Cron Trigger testable at
// /__scheduled (wrangler dev --test-scheduled).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const LOCAL_ADMIN_TOKEN = "local-admin-token";

function run(args, options = {}) {
  const result = spawnSync("wrangler", args, { stdio: ["ignore", "inherit", "inherit"], ...options });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const devVars = ".dev.vars";
const existing = existsSync(devVars) ? readFileSync(devVars, "utf8") : "";
if (!/^ADMIN_TOKEN=/m.test(existing)) {
  const separator = existing === "" || existing.endsWith("\n") ? "" : "\n";
  writeFileSync(devVars, `${existing}${separator}ADMIN_TOKEN=${LOCAL_ADMIN_TOKEN}\n`);
  console.log(`dev: wrote ADMIN_TOKEN=${LOCAL_ADMIN_TOKEN} to ${devVars}`);
}

// stdin is not a terminal here, so wrangler applies without asking.
run(["d1", "migrations", "apply", "DB", "--local"]);
run(["dev", "--test-scheduled", ...process.argv.slice(2)], { stdio: "inherit" });

// Before `npm test`: the browser tests drive Debian's Chromium at
// /usr/bin/chromium (never a downloaded browser). When it is missing, this
// installs it if it may (root, with apt-get), and otherwise stops the run with
// one line naming the command, so the browser tests are never left out
// unnoticed. BROWSER_TESTS=skip runs the suite without them, saying so.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const CHROMIUM = "/usr/bin/chromium";

if (existsSync(CHROMIUM)) process.exit(0);
if (process.env.BROWSER_TESTS === "skip") {
  console.warn(`chromium: none at ${CHROMIUM}; BROWSER_TESTS=skip, so the browser tests will be reported as skipped`);
  process.exit(0);
}

const root = typeof process.getuid === "function" && process.getuid() === 0;
const apt = spawnSync("sh", ["-c", "command -v apt-get"], { stdio: "ignore" }).status === 0;
if (root && apt) {
  console.log(`chromium: none at ${CHROMIUM}; installing Debian's (apt-get install -y chromium) ...`);
  for (const args of [["update", "-qq"], ["install", "-y", "-qq", "chromium"]]) {
    const result = spawnSync("apt-get", args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    if (result.status !== 0) {
      console.error(`chromium: apt-get ${args.join(" ")} failed; install it with \`apt-get install -y chromium\` and run npm test again`);
      process.exit(1);
    }
  }
  if (existsSync(CHROMIUM)) process.exit(0);
}
console.error(
  `chromium: the browser tests need Debian's Chromium at ${CHROMIUM}: run \`sudo apt-get install -y chromium\` (or BROWSER_TESTS=skip npm test to run without them)`,
);
process.exit(1);

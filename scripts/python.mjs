// The Python client's environment and checks, run by `npm test` after vitest:
// creates clients/python/.venv when it is missing or older than
// clients/python/pyproject.toml, installs the client (editable) with its
// `bluesky` and `dev` extras from PyPI, then runs ruff, mypy --strict on the
// package and on the Python reference gateway, and pytest (which serves the
// Worker itself). Quiet on success: only pytest's closing line is printed.
//
//   node scripts/python.mjs [test]           # the checks
//   node scripts/python.mjs pytest [args]    # pytest alone, its output as it is
//   node scripts/python.mjs generate         # regenerate the models from the served /openapi.json
//   node scripts/python.mjs run FILE [args]  # any script with the environment's Python
import { spawnSync } from "node:child_process";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const PACKAGE = join(ROOT, "clients", "python");
const VENV = join(PACKAGE, ".venv");
const BIN = join(VENV, process.platform === "win32" ? "Scripts" : "bin");
const PYTHON = join(BIN, "python");
const STAMP = join(VENV, ".installed");
const PYPROJECT = join(PACKAGE, "pyproject.toml");

/** Runs a command; `quiet` captures its output and prints it only when it fails. */
function run(command, args, { quiet = false, cwd = ROOT } = {}) {
  const result = spawnSync(command, args, {
    cwd,
    stdio: quiet ? ["ignore", "pipe", "pipe"] : "inherit",
    encoding: "utf8",
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", PIP_DISABLE_PIP_VERSION_CHECK: "1" },
  });
  if (result.error) throw result.error;
  if (result.status !== 0 && quiet) process.stderr.write(`${result.stdout ?? ""}${result.stderr ?? ""}`);
  return result;
}

function must(result, what) {
  if (result.status !== 0) {
    console.error(`python: ${what} failed`);
    process.exit(result.status ?? 1);
  }
  return result;
}

/** A Python 3.10 or newer on the PATH. */
function findPython() {
  for (const candidate of ["python3.13", "python3.12", "python3.11", "python3.10", "python3", "python"]) {
    const probe = spawnSync(candidate, ["-c", "import sys; print(sys.version_info >= (3, 10))"], { encoding: "utf8" });
    if (probe.status === 0 && probe.stdout.trim() === "True") return candidate;
  }
  console.error("python: the Python client needs Python 3.10 or newer on the PATH");
  process.exit(1);
}

function ensureEnvironment() {
  const fresh = existsSync(STAMP) && existsSync(PYTHON) && statSync(STAMP).mtimeMs >= statSync(PYPROJECT).mtimeMs;
  if (fresh) return;
  console.log("python: setting up clients/python/.venv from PyPI ...");
  if (!existsSync(PYTHON)) must(run(findPython(), ["-m", "venv", VENV], { quiet: true }), "creating the venv");
  must(run(PYTHON, ["-m", "pip", "install", "--quiet", "--upgrade", "pip"], { quiet: true }), "upgrading pip");
  must(run(PYTHON, ["-m", "pip", "install", "--quiet", "-e", `${PACKAGE}[bluesky,dev]`], { quiet: true }), "installing the client");
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}

const [command = "test", ...rest] = process.argv.slice(2);
ensureEnvironment();

switch (command) {
  case "test": {
    const gateway = join(ROOT, "examples", "python-gateway");
    must(run(join(BIN, "ruff"), ["check", "--quiet", "--config", "pyproject.toml", ".", gateway], { quiet: true, cwd: PACKAGE }), "ruff");
    must(run(join(BIN, "mypy"), [], { quiet: true, cwd: PACKAGE }), "mypy --strict");
    must(run(join(BIN, "mypy"), ["--strict", gateway], { quiet: true, cwd: PACKAGE }), "mypy --strict on the gateway");
    const pytest = run(PYTHON, ["-m", "pytest", ...rest], { quiet: true, cwd: PACKAGE });
    if (pytest.status !== 0) process.exit(pytest.status ?? 1);
    const closing = pytest.stdout.trim().split("\n").at(-1);
    console.log(`python: ${closing}`);
    break;
  }
  case "pytest":
    process.exit(run(PYTHON, ["-m", "pytest", ...rest], { cwd: PACKAGE }).status ?? 1);
    break;
  case "generate":
    process.exit(run(PYTHON, [join(PACKAGE, "scripts", "generate_models.py"), ...rest]).status ?? 1);
    break;
  case "run":
    process.exit(run(PYTHON, rest).status ?? 1);
    break;
  default:
    console.error(`python: unknown command ${command}: use test, pytest, generate or run`);
    process.exit(2);
}

// npm run mcp:inspect: serves the service (wrangler.toml, bundled once, with
// throw-away state) on a free port and points the MCP Inspector's CLI, a client
// nobody here wrote, at its /mcp endpoint: tools/list (with the Inspector's
// strict schema-portability report), then tools/call of register_procedure, of
// read_procedure on what it registered, and of hold_procedure on it, which is
// refused (the Inspector checks a result against the tool's output schema, so
// the refusal's shape is tested too). Exits 0 when every answer is what
// the REST API would give, 1 otherwise.
//
//   npm run mcp:inspect -- [--verbose] [--keep]
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { prepareService, ROOT, serveService } from "../bench/lib.mjs";

const INSPECTOR = join(ROOT, "node_modules", "@modelcontextprotocol", "inspector", "clients", "launcher", "build", "index.js");
/** A hung runtime or Inspector must not hang CI. */
const STEP_LIMIT_MS = 60_000;

const { values: args } = parseArgs({ options: { verbose: { type: "boolean", default: false }, keep: { type: "boolean", default: false } } });

/** The Inspector's exit code for a tool result with isError: true (it prints the result first). */
const TOOL_ERROR_EXIT = 5;

/**
 * Runs the Inspector's CLI against `url` with the bearer token and answers its
 * parsed JSON output; `exitCode` is the code the step expects (0, or
 * TOOL_ERROR_EXIT for a call that is refused).
 */
async function inspect(url, token, home, options, exitCode = 0) {
  const argv = [INSPECTOR, "--cli", url, "--transport", "http", "--header", `Authorization: Bearer ${token}`, ...options];
  // Its own home: the Inspector keeps a catalog and secrets there, none of which this run needs kept.
  const child = spawn(process.execPath, argv, { env: { ...process.env, HOME: home, MCP_CATALOG_PATH: join(home, "mcp.json") }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), STEP_LIMIT_MS);
  const code = await new Promise((resolve) => child.on("close", resolve));
  clearTimeout(timer);
  if (args.verbose && stderr.trim()) process.stderr.write(stderr);
  if (code !== exitCode) throw new Error(`the Inspector exited ${code} (not ${exitCode}) for ${options.join(" ")}\n${stderr}${stdout}`);
  try {
    return JSON.parse(stdout);
  } catch {
    throw new Error(`the Inspector printed no JSON for ${options.join(" ")}:\n${stdout.slice(0, 2000)}`);
  }
}

function check(condition, message) {
  if (!condition) throw new Error(message);
  console.log(`ok: ${message}`);
}

const prepared = await prepareService({ config: join(ROOT, "wrangler.toml"), verbose: args.verbose });
const home = await mkdtemp(join(tmpdir(), "procedure-edge-inspector-"));
let server;
let failed = false;
try {
  server = await serveService(prepared, { verbose: args.verbose });
  const url = `${server.baseUrl}/mcp`;

  const listed = await inspect(url, server.token, home, ["--method", "tools/list", "--strict"]);
  const names = listed.tools.map((tool) => tool.name);
  const document = await (await fetch(`${server.baseUrl}/openapi.json`)).json();
  const operations = Object.values(document.paths).flatMap((methods) => Object.values(methods)).filter((op) => op.operationId && op.security?.length);
  check(names.includes("register_procedure") && names.includes("read_procedure"), `tools/list names ${names.length} tools, register_procedure and read_procedure among them`);
  // Every bearer operation but the live stream and its ticket.
  check(names.length === operations.length - 2, `one tool per operation of /openapi.json (${operations.length} operations, stream and ticket excepted)`);

  const registered = await inspect(url, server.token, home, [
    "--method", "tools/call",
    "--tool-name", "register_procedure",
    "--tool-arg", "name=inspected", "kind=calibration", 'target_asset_ids=["beamline-1"]',
  ]);
  check(!registered.isError && registered.structuredContent?.status === "Defined", "tools/call register_procedure registers a Defined procedure");
  const id = registered.structuredContent.procedure_id;

  const read = await inspect(url, server.token, home, ["--method", "tools/call", "--tool-name", "read_procedure", "--tool-arg", `id=${id}`]);
  const rest = await (await fetch(`${server.baseUrl}/v1/procedures/${id}`, { headers: { authorization: `Bearer ${server.token}` } })).json();
  check(JSON.stringify(read.structuredContent) === JSON.stringify(rest), "tools/call read_procedure answers what GET /v1/procedures/{id} answers");
  check(JSON.parse(read.content[0].text).procedure_id === id, "the result's text is the same JSON");

  // A Defined procedure cannot be held: REST answers 409, the tool a result with isError and the same problem as its text.
  const refused = await inspect(url, server.token, home, ["--method", "tools/call", "--tool-name", "hold_procedure", "--tool-arg", `id=${id}`, "reason=inspected"], TOOL_ERROR_EXIT);
  const problem = refused.isError === true ? JSON.parse(refused.content[0].text) : null;
  check(problem?.error_class === "ProcedureCannotHold" && problem.status === 409, "tools/call hold_procedure on a Defined procedure is an isError result carrying the 409 ProcedureCannotHold problem");
} catch (error) {
  failed = true;
  console.error(`mcp:inspect failed: ${error.message}`);
  if (server) console.error(`--- wrangler dev output (last lines) ---\n${server.output()}`);
} finally {
  await server?.stop();
  if (!args.keep) await prepared.remove();
  await rm(home, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

// MCP beside REST: the service's CPU per request for tools/list, for a tool
// call that reads (read_procedure) and one that registers (register_procedure),
// each next to the REST request it stands for. A tool call is one POST /mcp
// whose server sends the REST request through the same app, so the difference
// is the MCP layer: JSON-RPC, the per-request server, and the inner dispatch.
// Calls are stateless 2025-era requests (no handshake first), as an MCP client
// sends them once connected; the bootstrap admin's token, which no rate limit
// applies to.
import { fmt, measure, printTable } from "./lib.mjs";

export const title = "MCP (tools/list and tool calls beside the same REST requests)";

const REQUESTS = 500;
const CONCURRENCY = 8;
const WARMUP = 50;

/** One JSON-RPC request to /mcp; resolves to the outcome label (a tool error counts as one). */
function mcp(baseUrl, token, method, params) {
  let id = 0;
  return async () => {
    const res = await fetch(`${baseUrl}/mcp`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
    });
    const text = await res.text();
    if (!res.ok) return String(res.status);
    const data = text.startsWith("event:") ? text.split("\n").find((line) => line.startsWith("data:")).slice(5) : text;
    const answer = JSON.parse(data);
    if (answer.error) return `rpc ${answer.error.code}`;
    return answer.result.isError ? "tool error" : "ok";
  };
}

function rest(baseUrl, token, method, path, body) {
  return async () => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    await res.arrayBuffer();
    return res.ok ? "ok" : String(res.status);
  };
}

export async function run({ baseUrl, token, call }) {
  const procedure = await call("POST", "/v1/procedures", { name: "bench mcp", kind: "calibration", target_asset_ids: ["bench-1"] });
  const id = procedure.procedure_id;
  const register = { name: "bench mcp registered", kind: "calibration", target_asset_ids: ["bench-1"] };
  const pairs = [
    {
      label: "read a procedure",
      rest: ["GET /v1/procedures/{id}", rest(baseUrl, token, "GET", `/v1/procedures/${id}`)],
      mcp: ["tools/call read_procedure", mcp(baseUrl, token, "tools/call", { name: "read_procedure", arguments: { id } })],
    },
    {
      label: "register a procedure",
      rest: ["POST /v1/procedures", rest(baseUrl, token, "POST", "/v1/procedures", register)],
      mcp: ["tools/call register_procedure", mcp(baseUrl, token, "tools/call", { name: "register_procedure", arguments: register })],
    },
    {
      label: "what the principal may do",
      rest: ["GET /v1/me", rest(baseUrl, token, "GET", "/v1/me")],
      mcp: ["tools/list", mcp(baseUrl, token, "tools/list", {})],
    },
  ];
  const rows = [];
  for (const pair of pairs) {
    const measured = [];
    for (const [label, fn] of [pair.rest, pair.mcp]) {
      await measure("warm-up", WARMUP, CONCURRENCY, fn);
      measured.push(await measure(label, REQUESTS, CONCURRENCY, fn));
    }
    rows.push({ pair, rest: measured[0], mcp: measured[1] });
  }
  const notes = rows.flatMap(({ rest: r, mcp: m }) => [r, m].filter((x) => x.errors > 0 || x.outcomes.ok !== x.n).map((x) => `MCP section: "${x.label}" answered ${JSON.stringify(x.outcomes)}`));
  const print = () => {
    console.log(`\nMCP beside REST: ${REQUESTS} requests each, ${CONCURRENCY} in flight; "svc CPU ms/req": CPU of wrangler + workerd per request`);
    printTable(
      ["request", "req/s", "p50 ms", "p99 ms", "svc CPU ms/req", "CPU / REST", "other CPU"],
      rows.flatMap(({ rest: r, mcp: m }) => [
        [r.label, fmt.rps(r.rps), fmt.ms(r.p50), fmt.ms(r.p99), fmt.ms(r.serviceCpuMsPerRequest), "(REST)", fmt.percent(r.otherCpuShare)],
        [m.label, fmt.rps(m.rps), fmt.ms(m.p50), fmt.ms(m.p99), fmt.ms(m.serviceCpuMsPerRequest), fmt.ratio(m.serviceCpuMsPerRequest / r.serviceCpuMsPerRequest), fmt.percent(m.otherCpuShare)],
      ]),
    );
    console.log("tools/list stands beside GET /v1/me: both answer what the token's principal may do, from the same authentication.");
  };
  return { rows: [], notes, print, measured: rows.flatMap((r) => [r.rest, r.mcp]) };
}

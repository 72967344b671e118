// Token authentication under load: how many D1 reads 1,000 requests cost when
// their tokens are bogus (one repeated, or each one new) and when a known
// gateway token is used. The counts come from the service's own tally
// (tokenLookupStats in src/auth/principals.ts), read and reset through
// GET /__bench/token-lookups; wrangler dev runs one isolate, so the tally is
// the whole service's.
import { fmt, measure, printTable } from "./lib.mjs";

export const title = "token authentication (bogus and known tokens)";

const REQUESTS = 1000;
const CONCURRENCY = 16;

async function lookups(baseUrl) {
  const res = await fetch(`${baseUrl}/__bench/token-lookups`, { method: "POST" });
  return res.json();
}

function me(baseUrl, token) {
  return async () => {
    const res = await fetch(`${baseUrl}/v1/me`, { headers: { authorization: `Bearer ${token(0)}` } });
    await res.arrayBuffer();
    return String(res.status);
  };
}

export async function run({ baseUrl, call }) {
  const gateway = await call("POST", "/v1/principals", { name: "bench auth gateway", roles: ["gateway"] });
  const scenarios = [
    { label: "one bogus token, repeated", token: () => "bogus-token-repeated" },
    { label: "a new bogus token each request", token: () => `bogus-${crypto.randomUUID()}` },
    { label: "a known gateway token", token: () => gateway.token },
  ];
  const rows = [];
  for (const scenario of scenarios) {
    await lookups(baseUrl);
    const result = await measure(scenario.label, REQUESTS, CONCURRENCY, me(baseUrl, scenario.token));
    const counted = await lookups(baseUrl);
    rows.push({ result, counted });
  }
  const print = () => {
    console.log(`\nToken authentication: ${REQUESTS} requests of GET /v1/me each, ${CONCURRENCY} in flight`);
    printTable(
      ["scenario", "req/s", "p50 ms", "answers", "D1 token reads", "not looked up (429)", "other CPU"],
      rows.map(({ result, counted }) => [
        result.label,
        fmt.rps(result.rps),
        fmt.ms(result.p50),
        Object.entries(result.outcomes).map(([status, n]) => `${n}x ${status}`).join(", "),
        counted.d1_reads,
        counted.throttled,
        fmt.percent(result.otherCpuShare),
      ]),
    );
  };
  return { rows: [], notes: [], print, measured: rows.map((r) => r.result) };
}

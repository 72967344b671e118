// The floor: POST /__bench/baseline/{name} is one RPC to a bare SQLite-backed
// Durable Object doing exactly one INSERT (bench/worker.ts). Measured against
// one object and spread over many; sections compare themselves with these.
import { drive, measure } from "./lib.mjs";

const BODY = JSON.stringify({ reason: "bench baseline" });

export function inserter(baseUrl) {
  return async (name) => {
    const res = await fetch(`${baseUrl}/__bench/baseline/${name}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: BODY,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`baseline insert -> ${res.status}: ${text.slice(0, 300)}`);
  };
}

/** Answers {one, many}: measure() results for the bare insert. */
export async function run({ baseUrl, opts }) {
  const { requests, concurrency, objects, warmup } = opts;
  const insert = inserter(baseUrl);

  await drive(warmup, concurrency, () => insert("one"));
  const one = await measure("bare insert, 1 object", requests, concurrency, () => insert("one"));

  // Warm-up touches every object once so none is created inside the measurement.
  await drive(Math.max(objects, warmup), concurrency, (i) => insert(`many-${i % objects}`));
  const many = await measure(`bare insert, ${objects} objects`, requests, concurrency, (i) => insert(`many-${i % objects}`));
  return { one: { ...one, objects: 1 }, many: { ...many, objects } };
}

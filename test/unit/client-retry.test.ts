// The client's pure parts: Retry-After, backoff, and its UUIDv7 ids.
import { describe, expect, it } from "vitest";
import { backoffMs, DEFAULT_RETRY, retryAfterMs, uuidv7Generator } from "../../clients/typescript/src/index.ts";

describe("Retry-After", () => {
  const now = Date.parse("2026-11-21T05:00:00.000Z");

  it("reads delay-seconds and an HTTP date, and nothing else", () => {
    expect(retryAfterMs("7", now)).toBe(7000);
    expect(retryAfterMs("Sat, 21 Nov 2026 05:00:30 GMT", now)).toBe(30_000);
    expect(retryAfterMs("Sat, 21 Nov 2026 04:00:00 GMT", now)).toBe(0);
    expect(retryAfterMs(null, now)).toBeNull();
    expect(retryAfterMs("soon", now)).toBeNull();
    expect(retryAfterMs("-3", now)).toBeNull();
  });
});

describe("backoff", () => {
  it("doubles per failure between half and all of its ceiling, which is capped", () => {
    const at = (random: number, failures: number) => backoffMs({ ...DEFAULT_RETRY, random: () => random }, failures);
    expect([1, 2, 3].map((n) => at(0, n))).toEqual([125, 250, 500]);
    expect([1, 2, 3].map((n) => at(0.999999, n))).toEqual([250, 500, 1000]);
    expect(at(0.999999, 20)).toBe(DEFAULT_RETRY.maxDelayMs);
  });
});

describe("UUIDv7 event ids", () => {
  it("are version 7, RFC variant, carry the time, and increase strictly within one millisecond", () => {
    const ms = Date.parse("2026-11-21T05:00:00.000Z");
    const next = uuidv7Generator(() => ms);
    const ids = Array.from({ length: 10_000 }, next);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(ids[0]!.replace(/-/g, "").slice(0, 12), 16)).toBe(ms);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

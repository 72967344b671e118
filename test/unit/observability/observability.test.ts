// The pure pieces of operations: which request ids a caller may choose, what a
// log line may carry, and the fixed layout of each metric's data point.
import { afterEach, describe, expect, it, vi } from "vitest";
import { logLine } from "../../../src/observability/log";
import { Metrics, toDataPoint, type DataPoint } from "../../../src/observability/metrics";
import { isValidRequestId, requestIdFrom } from "../../../src/observability/request-id";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("request ids", () => {
  it("takes 1 to 128 characters of letters, digits and ._:- from a caller", () => {
    for (const id of ["a", "req-1", "01J9Z8Q3K7:trace.span_4", "x".repeat(128)]) {
      expect(isValidRequestId(id)).toBe(true);
      expect(requestIdFrom(id)).toBe(id);
    }
  });

  it("replaces anything else with a new UUIDv7", () => {
    for (const id of [null, undefined, "", "x".repeat(129), "has space", "line\nbreak", "é", "a/b", '"quoted"']) {
      const made = requestIdFrom(id, Date.UTC(2026, 11, 5));
      expect(made).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(made).not.toBe(id);
    }
  });
});

describe("log lines", () => {
  function captured() {
    const lines: Array<[string, Record<string, unknown>]> = [];
    for (const method of ["log", "warn", "error"] as const) {
      vi.spyOn(console, method).mockImplementation((text: string) => void lines.push([method, JSON.parse(text) as Record<string, unknown>]));
    }
    return lines;
  }

  it("writes one JSON object per line, with its level", () => {
    const lines = captured();
    logLine("info", { msg: "request", request_id: "r-1", status: 200 });
    logLine("warn", { msg: "deferred" });
    logLine("error", { msg: "failed" });
    expect(lines).toEqual([
      ["log", { level: "info", msg: "request", request_id: "r-1", status: 200 }],
      ["warn", { level: "warn", msg: "deferred" }],
      ["error", { level: "error", msg: "failed" }],
    ]);
  });

  it("drops every field named like a token, a secret, a ticket or a signature", () => {
    const lines = captured();
    logLine("info", {
      msg: "careless",
      authorization: "Bearer t",
      token: "t",
      secret: "whsec_x",
      ticket: "k",
      signature: "v1,x",
      admin_token: "a",
      secret_ciphertext: "c",
      stream_token: "s",
      principal_id: "p-1",
    });
    expect(lines).toEqual([["log", { level: "info", msg: "careless", principal_id: "p-1" }]]);
  });

  it("writes no info line while logging is off, but always warnings and errors", () => {
    const lines = captured();
    logLine("info", { msg: "request" }, false);
    logLine("warn", { msg: "deferred" }, false);
    logLine("error", { msg: "failed" }, false);
    expect(lines.map(([, line]) => line.msg)).toEqual(["deferred", "failed"]);
  });
});

describe("metrics", () => {
  function recorder() {
    const points: DataPoint[] = [];
    return { points, sink: { writeDataPoint: (point: DataPoint) => void points.push(point) } };
  }

  it("writes each kind in its fixed layout, the kind first", () => {
    const { points, sink } = recorder();
    const metrics = new Metrics(sink);
    metrics.write({ kind: "request", operation: "holdProcedure", outcome: "ProcedureCannotHold", command: "HoldProcedure", principal_id: "p-1", status: 409, duration_ms: 12 });
    metrics.write({ kind: "delivery", outcome: "failed", event_type: "procedure.held", subscription_id: "s-1", latency_ms: 30, status_code: 0, attempt: 6 });
    metrics.write({ kind: "tick", outcome: "ran", duration_ms: 40, candidates: 5, flagged: 2, acted: 1, archived: 0, failures: 1, rows_read: 9 });
    expect(points).toEqual([
      { indexes: ["holdProcedure"], blobs: ["request", "holdProcedure", "ProcedureCannotHold", "HoldProcedure", "p-1"], doubles: [409, 12] },
      { indexes: ["s-1"], blobs: ["delivery", "failed", "procedure.held", "s-1"], doubles: [30, 0, 6] },
      { indexes: ["tick"], blobs: ["tick", "ran"], doubles: [40, 5, 2, 1, 0, 1, 9] },
    ]);
    expect(toDataPoint({ kind: "activity", procedure_id: "p", accepted: 3, duplicates: 1 })).toEqual({ indexes: ["p"], blobs: ["activity", "p"], doubles: [3, 1] });
  });

  it("is a no-op when unbound or off, and a failing sink never throws", () => {
    const { points, sink } = recorder();
    const tick = { kind: "tick", outcome: "ran", duration_ms: 1, candidates: 0, flagged: 0, acted: 0, archived: 0, failures: 0, rows_read: 0 } as const;
    new Metrics(undefined).write(tick);
    new Metrics(sink, false).write(tick);
    expect(points).toEqual([]);
    expect(() => new Metrics({ writeDataPoint: () => { throw new Error("over the limit"); } }).write(tick)).not.toThrow();
  });
});

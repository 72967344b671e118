import { describe, expect, it } from "vitest";
import { z } from "zod";
import { emptySummary, parseWatcherConfig } from "../../../src/watcher/stall";

describe("parseWatcherConfig", () => {
  it("is off with the documented windows by default", () => {
    expect(parseWatcherConfig({})).toEqual({ enabled: false, staleAfterSeconds: 3600, heldStaleAfterSeconds: 86400, maxCandidates: 500 });
  });
  it("turns on only for exactly true", () => {
    expect(parseWatcherConfig({ WATCHER_ENABLED: "true" }).enabled).toBe(true);
    for (const value of ["TRUE", "True", "1", "yes", " true", "false", ""]) {
      expect(parseWatcherConfig({ WATCHER_ENABLED: value }).enabled).toBe(false);
    }
  });
  it("reads both windows", () => {
    expect(
      parseWatcherConfig({ WATCHER_ENABLED: "true", STALE_AFTER_SECONDS: "60", HELD_STALE_AFTER_SECONDS: "600" }),
    ).toEqual({ enabled: true, staleAfterSeconds: 60, heldStaleAfterSeconds: 600, maxCandidates: 500 });
  });
  it("reads the candidate cap", () => {
    expect(parseWatcherConfig({ WATCHER_MAX_CANDIDATES: "25" }).maxCandidates).toBe(25);
    expect(parseWatcherConfig({ WATCHER_MAX_CANDIDATES: "10000" }).maxCandidates).toBe(10000);
  });
  it.each(["0", "-1", "2.5", "1e3", "", "10001", "many"])("refuses WATCHER_MAX_CANDIDATES=%j", (value) => {
    expect(() => parseWatcherConfig({ WATCHER_MAX_CANDIDATES: value })).toThrow(
      "WATCHER_MAX_CANDIDATES must be an integer from 1 to 10000",
    );
  });
  it.each(["0", "-5", "1.5", "1e3", "", " 60", "abc"])("refuses STALE_AFTER_SECONDS=%j", (value) => {
    expect(() => parseWatcherConfig({ STALE_AFTER_SECONDS: value })).toThrow(z.ZodError);
    expect(() => parseWatcherConfig({ STALE_AFTER_SECONDS: value })).toThrow(
      "STALE_AFTER_SECONDS must be a positive integer number of seconds",
    );
  });
  it("names the held window when that is the bad one", () => {
    let error: unknown;
    try {
      parseWatcherConfig({ HELD_STALE_AFTER_SECONDS: "0" });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(z.ZodError);
    expect((error as z.ZodError).issues.map((issue) => issue.path)).toEqual([["HELD_STALE_AFTER_SECONDS"]]);
  });
});

describe("emptySummary", () => {
  it("zeroes every count", () => {
    expect(emptySummary("disabled", "2026-11-21T05:00:00.000Z")).toEqual({
      started_at: "2026-11-21T05:00:00.000Z",
      duration_ms: 0,
      outcome: "disabled",
      candidates: 0,
      rescued: 0,
      deferred: 0,
      flagged: 0,
      pages: 0,
    });
  });
});

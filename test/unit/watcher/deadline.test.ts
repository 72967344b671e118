import { describe, expect, it } from "vitest";
import { uuidv5 } from "../../../src/ids";
import {
  attemptOfJob,
  attemptOpen,
  deadlineJob,
  deadlinesArmed,
  overdueDecision,
  overdueDecisionId,
  type DeadlineReading,
} from "../../../src/watcher/deadline";
import { WATCHER_AGENT } from "../../../src/watcher/stall";

const PROCEDURE = "01900000-0000-7000-8000-0000000000a1";
const IN_FLIGHT_AT = "2026-11-21T05:00:00.000Z";
const T0 = Date.parse(IN_FLIGHT_AT);
const attempt = { step_index: 3, in_flight_at: IN_FLIGHT_AT };

function reading(overrides: Partial<DeadlineReading> = {}): DeadlineReading {
  return { procedure_id: PROCEDURE, status: "Running", latest: { result: "in_flight", recorded_at: IN_FLIGHT_AT }, deadline_seconds: 30, ...overrides };
}

describe("deadlineJob", () => {
  it("falls due the deadline after the in_flight was recorded, keyed by the attempt", () => {
    expect(deadlineJob(attempt, 30)).toEqual({ key: `deadline:3:${IN_FLIGHT_AT}`, due_at: T0 + 30_000 });
    expect(attemptOfJob(deadlineJob(attempt, 30).key)).toEqual(attempt);
    expect(attemptOfJob("projection")).toBeNull();
  });
  it("is armed only by an in_flight of a step that has a deadline", () => {
    const reports = [
      { step_index: 0, result: "in_flight" },
      { step_index: 1, result: "in_flight" },
      { step_index: 0, result: "ok" },
      null,
    ];
    expect(deadlinesArmed(reports, [null, 5], IN_FLIGHT_AT)).toEqual([{ key: `deadline:1:${IN_FLIGHT_AT}`, due_at: T0 + 5_000 }]);
  });
});

describe("overdueDecisionId", () => {
  it("is the UUIDv5 of overdue:{procedure_id}:{step_index}:{in_flight recorded_at}", () => {
    expect(overdueDecisionId(PROCEDURE, attempt)).toBe(uuidv5(`overdue:${PROCEDURE}:3:${IN_FLIGHT_AT}`));
  });
  it("differs per attempt, so a replay's new in_flight gets its own decision", () => {
    expect(overdueDecisionId(PROCEDURE, attempt)).not.toBe(overdueDecisionId(PROCEDURE, { ...attempt, in_flight_at: "2026-11-21T05:01:00.000Z" }));
  });
});

describe("overdueDecision", () => {
  it("is decided exactly at the deadline and not a millisecond before", () => {
    expect(overdueDecision(reading(), attempt, T0 + 30_000 - 1)).toBeNull();
    const decision = overdueDecision(reading(), attempt, T0 + 30_000);
    expect(decision).toMatchObject({
      id: overdueDecisionId(PROCEDURE, attempt),
      context: "ProcedureProgress",
      choice: "StepOverdue",
      decided_by: WATCHER_AGENT.id,
      subject_id: PROCEDURE,
      inputs: { step_index: 3, deadline_seconds: 30, in_flight_at: IN_FLIGHT_AT, in_flight_seconds: 30 },
    });
  });
  it("is not decided once the attempt closed: an ok, a failed, or a newer in_flight", () => {
    const late = T0 + 60_000;
    expect(overdueDecision(reading({ latest: { result: "ok", recorded_at: "2026-11-21T05:00:10.000Z" } }), attempt, late)).toBeNull();
    expect(overdueDecision(reading({ latest: { result: "failed", recorded_at: "2026-11-21T05:00:10.000Z" } }), attempt, late)).toBeNull();
    expect(overdueDecision(reading({ latest: { result: "in_flight", recorded_at: "2026-11-21T05:00:20.000Z" } }), attempt, late)).toBeNull();
    expect(overdueDecision(reading({ latest: null }), attempt, late)).toBeNull();
  });
  it("is judged while the procedure is in conduct, Held included, and not after it ended", () => {
    expect(attemptOpen(reading({ status: "Held" }), attempt)).toBe(true);
    for (const status of ["Completed", "Aborted", "Truncated", "Defined"] as const) {
      expect(overdueDecision(reading({ status }), attempt, T0 + 60_000)).toBeNull();
    }
  });
  it("needs a deadline on the pinned step", () => {
    expect(overdueDecision(reading({ deadline_seconds: null }), attempt, T0 + 60_000)).toBeNull();
  });
});

// The console's pure reading of step states and stall flags (no browser needed).
import { describe, expect, it } from "vitest";
import { isStallCurrent, latestReports, newestStalls, stallWarning, stepStates } from "../../assets/console/progress";
import type { ActivityEntry, Decision } from "../../assets/console/types";

let seq = 0;
const entry = (payload: Record<string, unknown>): ActivityEntry => ({
  event_id: `e${++seq}`,
  step_kind: "setpoint",
  payload,
  sampled_at: "2026-11-21T05:00:00.000Z",
  occurred_at: "2026-11-21T05:00:00.000Z",
  recorded_at: "2026-11-21T05:00:00.000Z",
  principal_id: "gateway",
});

const stall = (subject_id: string, recorded_at: string): Decision => ({
  id: `d-${subject_id}-${recorded_at}`,
  context: "ProcedureProgress",
  choice: "Stall",
  decided_by: "watcher",
  rule: "stall",
  subject_id,
  reasoning: "",
  inputs: {},
  confidence_source: "self_reported",
  parent_id: null,
  override_kind: null,
  recorded_at,
});

/** A Running procedure outside any replay, as stepStates reads it. */
const running = { status: "Running", replay_boundary: null, replay_awaiting_operator: [] } as const satisfies Parameters<typeof stepStates>[2];

describe("step states from the logbook", () => {
  it("takes the newest report per step and ignores entries that are not step reports", () => {
    const newestFirst = [
      entry({ step_index: 1, result: "failed", error_class: "OutOfTolerance", message: "117.2" }),
      entry({ step_index: 0, result: "ok" }),
      entry({ step_index: 1, result: "in_flight" }),
      entry({ step_index: 0, result: "in_flight" }),
      entry({ note: "free-form" }),
    ];
    const reports = latestReports(newestFirst);
    expect([...reports.keys()].sort()).toEqual([0, 1]);
    expect(reports.get(1)).toMatchObject({ result: "failed", error_class: "OutOfTolerance", message: "117.2" });
    expect(stepStates(4, reports, running)).toEqual(["ok", "failed", "pending", "pending"]);
  });

  it("calls a step never reported pending while it may still run, and not reported once it never will", () => {
    const reports = latestReports([entry({ step_index: 2, result: "ok" })]);
    for (const status of ["Defined", "Running", "Held"] as const) expect(stepStates(3, reports, { ...running, status })).toEqual(["pending", "pending", "ok"]);
    // A replay from #1: #0 counts as done without a report; #1 is still to run.
    expect(stepStates(3, reports, { ...running, replay_boundary: 1 })).toEqual(["not_reported", "pending", "ok"]);
    for (const status of ["Completed", "Aborted", "Truncated"] as const) {
      expect(stepStates(3, reports, { ...running, status })).toEqual(["not_reported", "not_reported", "ok"]);
    }
  });

  it("shows a replayed step waiting for the go-ahead as such, whatever it reported before", () => {
    const reports = latestReports([entry({ step_index: 2, result: "ok" })]);
    expect(stepStates(3, reports, { ...running, replay_boundary: 2, replay_awaiting_operator: [2] })).toEqual(["not_reported", "not_reported", "awaiting_go_ahead"]);
  });
});

describe("the stall flag", () => {
  const base = { last_status_changed_at: "2026-11-21T05:00:00.000Z", last_activity_at: "2026-11-21T05:10:00.000Z" };

  it("is raised while nothing moved since the newest Stall decision of a procedure in conduct", () => {
    const stalls = newestStalls([stall("p1", "2026-11-21T07:00:00.000Z"), stall("p1", "2026-11-21T06:00:00.000Z")]);
    expect(stalls.get("p1")?.recorded_at).toBe("2026-11-21T07:00:00.000Z");
    expect(isStallCurrent({ status: "Running", ...base }, stalls.get("p1"))).toBe(true);
    expect(isStallCurrent({ status: "Held", ...base }, stalls.get("p1"))).toBe(true);
  });

  it("is lowered by later activity, a later status change, an ended procedure or no decision", () => {
    const decided = stall("p1", "2026-11-21T06:00:00.000Z");
    expect(isStallCurrent({ status: "Running", ...base, last_activity_at: "2026-11-21T06:00:01.000Z" }, decided)).toBe(false);
    expect(isStallCurrent({ status: "Held", ...base, last_status_changed_at: "2026-11-21T06:30:00.000Z" }, decided)).toBe(false);
    expect(isStallCurrent({ status: "Completed", ...base }, decided)).toBe(false);
    expect(isStallCurrent({ status: "Running", ...base }, undefined)).toBe(false);
  });
});

describe("warn-at-resume", () => {
  const conducted = { step_count: 4, completed_count: 1, in_flight_step_index: null };
  it("asks nothing when the current episode has no Stall decision", () => {
    expect(stallWarning({ ...conducted, open_stall_decision_id: null }, { suggested_boundary: 1 })).toBeNull();
  });
  it("names the step it stalled at: the suggested boundary, else the step in flight, else the first not done", () => {
    const open = { ...conducted, open_stall_decision_id: "d1" };
    expect(stallWarning(open, { suggested_boundary: 2 })).toBe("It stalled at step #2; resume anyway?");
    expect(stallWarning({ ...open, in_flight_step_index: 3 }, null)).toBe("It stalled at step #3; resume anyway?");
    expect(stallWarning(open, null)).toBe("It stalled at step #1; resume anyway?");
  });
  it("names no step for a procedure started without conduct", () => {
    expect(stallWarning({ step_count: null, completed_count: 0, in_flight_step_index: null, open_stall_decision_id: "d1" }, null)).toBe("It stalled; resume anyway?");
  });
});

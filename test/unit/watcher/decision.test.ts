import { describe, expect, it } from "vitest";
import { uuidv5 } from "../../../src/ids";
import { decisionId, stallDecision, WATCHER_AGENT } from "../../../src/watcher/stall";

const PROCEDURE = "01900000-0000-7000-8000-0000000000a1";
const NOW = Date.parse("2026-11-21T05:00:00.000Z");

describe("decisionId", () => {
  it("is the UUIDv5 of decision:{procedure}:{last_progress_at}", () => {
    const id = decisionId(PROCEDURE, "2026-11-21T03:00:00.000Z");
    expect(id).toBe(uuidv5(`decision:${PROCEDURE}:2026-11-21T03:00:00.000Z`));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
  it("is the same for the same episode across ticks", () => {
    expect(decisionId(PROCEDURE, "2026-11-21T03:00:00.000Z")).toBe(decisionId(PROCEDURE, "2026-11-21T03:00:00.000Z"));
  });
  it("changes when progress starts a new episode", () => {
    expect(decisionId(PROCEDURE, "2026-11-21T03:00:00.001Z")).not.toBe(decisionId(PROCEDURE, "2026-11-21T03:00:00.000Z"));
  });
  it("differs between procedures stalled at the same moment", () => {
    const other = "01900000-0000-7000-8000-0000000000a2";
    expect(decisionId(other, "2026-11-21T03:00:00.000Z")).not.toBe(decisionId(PROCEDURE, "2026-11-21T03:00:00.000Z"));
  });
});

describe("stallDecision", () => {
  it("records the exact Stall decision body", () => {
    const decision = stallDecision({
      procedure_id: PROCEDURE,
      status: "Running",
      last_progress_at: "2026-11-21T03:59:59.500Z",
      window: 3600,
      nowMs: NOW,
    });
    expect(decision).toEqual({
      id: uuidv5(`decision:${PROCEDURE}:2026-11-21T03:59:59.500Z`),
      context: "ProcedureProgress",
      choice: "Stall",
      decided_by: "01900000-0000-7000-8000-00000c0c0010",
      rule: "agent:ProcedureWatcher:v1",
      subject_id: PROCEDURE,
      reasoning: "Procedure has been Running for 3600s without progressing (window 3600s)",
      inputs: {
        procedure_id: PROCEDURE,
        status: "Running",
        last_progress_at: "2026-11-21T03:59:59.500Z",
        stalled_seconds: 3600,
        occurred_at: "2026-11-21T05:00:00.000Z",
        acted: null,
      },
      confidence_source: "self_reported",
      parent_id: null,
      override_kind: null,
      recorded_at: "2026-11-21T05:00:00.000Z",
    });
  });
  it("floors the stalled seconds and names a Held status", () => {
    const decision = stallDecision({
      procedure_id: PROCEDURE,
      status: "Held",
      last_progress_at: "2026-11-20T04:59:59.001Z",
      window: 86400,
      nowMs: NOW + 999,
    });
    expect(decision.reasoning).toBe("Procedure has been Held for 86401s without progressing (window 86400s)");
    expect(decision.inputs.stalled_seconds).toBe(86401);
    expect(decision.recorded_at).toBe("2026-11-21T05:00:00.999Z");
  });
  it("is decided by the watcher agent", () => {
    expect(WATCHER_AGENT).toEqual({
      id: "01900000-0000-7000-8000-00000c0c0010",
      kind: "agent",
      rule: "agent:ProcedureWatcher:v1",
      name: "ProcedureWatcher",
    });
  });
});

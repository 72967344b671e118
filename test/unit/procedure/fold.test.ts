import { describe, expect, it } from "vitest";
import { decide, holdClaimId, type ProcedureCommand } from "../../../src/procedure/decide";
import type { ProcedureEvent, ProcedureEventType, ProcedureStatus } from "../../../src/procedure/events";
import { evolve, fold, type ProcedureState } from "../../../src/procedure/state";
import {
  apply,
  at,
  build,
  claimOf,
  cmd,
  CTX,
  NOW,
  PINNED_STEP_COUNT,
  PROCEDURE_ID,
  SCENARIO_KEYS,
  SCENARIOS,
  type Built,
  type ScenarioKey,
} from "./fixtures";

/** Decides `command` at NOW on `before` and folds each event, one state per event. */
function stepwise(before: Built, command: ProcedureCommand): { events: ProcedureEvent[]; states: ProcedureState[] } {
  const decision = decide(before.state, command, CTX);
  if (!decision.ok) throw new Error(`refused: ${decision.refusal.error_class}`);
  const states: ProcedureState[] = [];
  let s = before.state;
  for (const e of decision.value) {
    s = evolve(s, e);
    states.push(s);
  }
  return { events: decision.value, states };
}

describe("fold: registration", () => {
  it("a registered procedure is Defined with its fields", () => {
    const b = apply({ state: null, events: [], steps: 0 }, cmd.register(["asset-b", "asset-a", "asset-b"]), NOW);
    expect(b.state).toEqual({
      procedure_id: PROCEDURE_ID,
      name: "Beamline alignment",
      kind: "alignment",
      target_asset_ids: ["asset-b", "asset-a"],
      status: "Defined",
      hold_claims: [],
      activity_logbook_id: null,
      registered_at: NOW,
      last_status_changed_at: NOW,
      last_status_reason: null,
      interrupted_at: null,
      version: 1,
      on_failure: "abort",
      step_count: null,
      replay: null,
      stale_after_seconds: null,
      on_stall: "flag",
    });
  });

  it("fold of no events is null, and folding is the reduce of evolve", () => {
    expect(fold([])).toBeNull();
    for (const key of SCENARIO_KEYS) {
      const b = SCENARIOS[key]();
      expect(fold(b.events)).toEqual(b.state);
    }
  });

  it("any event before ProcedureRegistered is rejected by the fold", () => {
    const started: ProcedureEvent = {
      type: "ProcedureStarted",
      payload: { procedure_id: PROCEDURE_ID, occurred_at: NOW, on_failure: "abort" },
    };
    expect(() => evolve(null, started)).toThrow("ProcedureStarted before ProcedureRegistered");
  });
});

describe("fold: status is derived from the event type", () => {
  it.each<{ scenario: ScenarioKey; last: ProcedureEventType; status: ProcedureStatus }>([
    { scenario: "Defined", last: "ProcedureRegistered", status: "Defined" },
    { scenario: "Running (started)", last: "ProcedureStarted", status: "Running" },
    { scenario: "Running (conducted)", last: "ProcedureStarted", status: "Running" },
    { scenario: "Running (replay from 1)", last: "ProcedureResumed", status: "Running" },
    { scenario: "Running (logbook open)", last: "ProcedureActivitiesLogbookOpened", status: "Running" },
    { scenario: "Held {operator}", last: "ProcedureHeld", status: "Held" },
    { scenario: "Held {} (last claim released by event)", last: "ProcedureHoldClaimReleased", status: "Held" },
    { scenario: "Completed", last: "ProcedureCompleted", status: "Completed" },
    { scenario: "Aborted", last: "ProcedureAborted", status: "Aborted" },
    { scenario: "Truncated", last: "ProcedureTruncated", status: "Truncated" },
  ])("$scenario ends with $last and folds to $status", ({ scenario, last, status }) => {
    const b = SCENARIOS[scenario]();
    expect(b.events.at(-1)?.type).toBe(last);
    expect(b.state?.status).toBe(status);
  });

  it("no event payload carries a status", () => {
    for (const key of SCENARIO_KEYS) {
      for (const e of SCENARIOS[key]().events) expect(Object.keys(e.payload)).not.toContain("status");
    }
  });

  it("every event the fixtures decided carries the procedure id and its command's time", () => {
    const b = SCENARIOS["Held {operator, step-fault, driver-stand-down}"]();
    // register, start, hold, hold, hold: one event each, at at(0)..at(4)
    expect(b.events.map((e) => [e.payload.procedure_id, e.payload.occurred_at])).toEqual(
      [0, 1, 2, 3, 4].map((i) => [PROCEDURE_ID, at(i)]),
    );
  });
});

describe("fold: version", () => {
  it.each(SCENARIO_KEYS.filter((k) => k !== "no stream"))("%s: the version is the number of events folded", (key) => {
    const { events } = SCENARIOS[key]();
    let s: ProcedureState | null = null;
    events.forEach((e, i) => {
      s = evolve(s, e);
      expect(s.version).toBe(i + 1);
    });
  });

  it("a conduct adds two versions, an operator resume of three claims adds three", () => {
    expect(SCENARIOS["Running (conducted)"]().state?.version).toBe(3);
    const held = SCENARIOS["Held {operator, step-fault, driver-stand-down}"]();
    expect(held.state?.version).toBe(5);
    expect(apply(held, cmd.resume("operator")).state?.version).toBe(8);
  });
});

describe("fold: last_status_changed_at and last_status_reason", () => {
  it.each<{
    label: string;
    from: ScenarioKey;
    command: ProcedureCommand;
    /** One entry per event the command yields: does it move last_status_changed_at? */
    moves: Array<[ProcedureEventType, boolean]>;
    reason: string | null;
  }>([
    { label: "start", from: "Defined", command: cmd.start(), moves: [["ProcedureStarted", true]], reason: null },
    {
      label: "conduct",
      from: "Defined",
      command: cmd.conduct(),
      moves: [["ResolvedStepsRecorded", false], ["ProcedureStarted", true]],
      reason: null,
    },
    { label: "hold", from: "Running (started)", command: cmd.hold("operator", "coffee"), moves: [["ProcedureHeld", true]], reason: "coffee" },
    {
      label: "a second hold: a claim, not a status change",
      from: "Held {operator}",
      command: cmd.hold("step-fault", "check failed"),
      moves: [["ProcedureHeld", false]],
      reason: "check failed",
    },
    {
      label: "a release that leaves claims",
      from: "Held {operator, step-fault}",
      command: cmd.resume("step-fault"),
      moves: [["ProcedureHoldClaimReleased", false]],
      reason: "held by step-fault",
    },
    { label: "resume", from: "Held {operator}", command: cmd.resume("operator"), moves: [["ProcedureResumed", true]], reason: null },
    {
      label: "an operator resume clearing attention claims",
      from: "Held {operator, step-fault, driver-stand-down}",
      command: cmd.resume("operator"),
      moves: [
        ["ProcedureHoldClaimReleased", false],
        ["ProcedureHoldClaimReleased", false],
        ["ProcedureResumed", true],
      ],
      reason: null,
    },
    { label: "complete", from: "Running (started)", command: cmd.complete(), moves: [["ProcedureCompleted", true]], reason: null },
    { label: "abort", from: "Held {operator}", command: cmd.abort("broken"), moves: [["ProcedureAborted", true]], reason: "broken" },
    {
      label: "truncate",
      from: "Running (started)",
      command: cmd.truncate(null, "outage"),
      moves: [["ProcedureTruncated", true]],
      reason: "outage",
    },
    {
      label: "logbook opened",
      from: "Running (started)",
      command: cmd.openLogbook(),
      moves: [["ProcedureActivitiesLogbookOpened", false]],
      reason: null,
    },
    {
      label: "replay step authorized",
      from: "Running (replay from 1)",
      command: cmd.authorize(2),
      moves: [["ProcedureReplayStepAuthorized", false]],
      reason: null,
    },
  ])("$label", ({ from, command, moves, reason }) => {
    const before = SCENARIOS[from]();
    const previous = before.state!.last_status_changed_at;
    expect(previous).not.toBe(NOW);
    const { events, states } = stepwise(before, command);
    expect(events.map((e) => e.type)).toEqual(moves.map(([t]) => t));
    let expected = previous;
    states.forEach((s, i) => {
      if (moves[i]![1]) expected = NOW;
      expect(s.last_status_changed_at).toBe(expected);
    });
    expect(states.at(-1)?.last_status_reason).toBe(reason);
  });

  it("the registration sets last_status_changed_at to registered_at", () => {
    const b = SCENARIOS.Defined();
    expect(b.state).toMatchObject({ registered_at: at(0), last_status_changed_at: at(0) });
  });

  it("opening the logbook sets only activity_logbook_id", () => {
    const before = SCENARIOS["Running (started)"]();
    const { states } = stepwise(before, cmd.openLogbook("01900000-0000-7000-8000-0000000000c3"));
    expect(states[0]).toEqual({
      ...before.state,
      activity_logbook_id: "01900000-0000-7000-8000-0000000000c3",
      version: before.state!.version + 1,
    });
  });

  it("pinning the steps sets only step_count", () => {
    const before = SCENARIOS.Defined();
    const { states } = stepwise(before, cmd.conduct());
    expect(states[0]).toEqual({ ...before.state, step_count: PINNED_STEP_COUNT, version: 2 });
  });
});

describe("fold: hold claims", () => {
  it.each<{ scenario: ScenarioKey; claims: ReturnType<typeof claimOf>[] }>([
    { scenario: "Held {operator}", claims: [claimOf("operator")] },
    { scenario: "Held {step-fault}", claims: [claimOf("step-fault")] },
    { scenario: "Held {driver-stand-down}", claims: [claimOf("driver-stand-down")] },
    { scenario: "Held {operator, step-fault}", claims: [claimOf("operator"), claimOf("step-fault")] },
    { scenario: "Held {step-fault, driver-stand-down}", claims: [claimOf("step-fault"), claimOf("driver-stand-down")] },
    {
      scenario: "Held {operator, step-fault, driver-stand-down}",
      claims: [claimOf("operator"), claimOf("step-fault"), claimOf("driver-stand-down")],
    },
    { scenario: "Held {} (last claim released by event)", claims: [] },
  ])("$scenario folds to its ordered claims", ({ scenario, claims }) => {
    expect(SCENARIOS[scenario]().state?.hold_claims).toEqual(claims);
  });

  it("a release removes exactly the named claim and keeps the others in order", () => {
    const b = apply(SCENARIOS["Held {operator, step-fault, driver-stand-down}"](), cmd.resume("step-fault"), NOW);
    expect(b.events.at(-1)).toEqual({
      type: "ProcedureHoldClaimReleased",
      payload: {
        procedure_id: PROCEDURE_ID,
        occurred_at: NOW,
        claim_id: holdClaimId(PROCEDURE_ID, "step-fault"),
        cause: "step-fault",
      },
    });
    expect(b.state?.hold_claims).toEqual([claimOf("operator"), claimOf("driver-stand-down")]);
    expect(b.state?.status).toBe("Held");
  });

  it("the resume removes the claim it names", () => {
    const b = apply(SCENARIOS["Held {operator}"](), cmd.resume("operator"), NOW);
    expect(b.state).toMatchObject({ status: "Running", hold_claims: [], last_status_reason: null });
  });

  it.each<{ label: string; from: ScenarioKey; command: ProcedureCommand; status: ProcedureStatus }>([
    { label: "abort of a Held {operator, step-fault}", from: "Held {operator, step-fault}", command: cmd.abort(), status: "Aborted" },
    {
      label: "truncate of a Held {operator, step-fault, driver-stand-down}",
      from: "Held {operator, step-fault, driver-stand-down}",
      command: cmd.truncate(null),
      status: "Truncated",
    },
    { label: "complete of a resumed procedure", from: "Running (replay from 1)", command: cmd.complete(), status: "Completed" },
  ])("terminal events clear claims: $label", ({ from, command, status }) => {
    const b = apply(SCENARIOS[from](), command, NOW);
    expect(b.state).toMatchObject({ status, hold_claims: [], last_status_changed_at: NOW });
  });

  it("the Aborted fixture (aborted while held by two causes) has no claims", () => {
    expect(SCENARIOS.Aborted().state).toMatchObject({ status: "Aborted", hold_claims: [], last_status_reason: "operator abort" });
  });

  it("evolve never mutates the state it folds onto", () => {
    const before = SCENARIOS["Held {operator, step-fault}"]();
    const snapshot = structuredClone(before.state);
    apply(before, cmd.resume("operator"), NOW);
    apply(before, cmd.abort(), NOW);
    expect(before.state).toEqual(snapshot);
  });
});

describe("fold: truncation keeps interrupted_at", () => {
  it.each([
    { from: "Running (started)" as ScenarioKey, interrupted_at: null },
    { from: "Running (started)" as ScenarioKey, interrupted_at: "2026-11-21T04:30:00.000Z" },
    { from: "Held {operator}" as ScenarioKey, interrupted_at: "2026-11-21T04:30:00.000Z" },
    { from: "Held {step-fault}" as ScenarioKey, interrupted_at: NOW },
  ])("from $from with interrupted_at $interrupted_at", ({ from, interrupted_at }) => {
    const before = SCENARIOS[from]();
    expect(before.state?.interrupted_at).toBeNull();
    const b = apply(before, cmd.truncate(interrupted_at, "outage"), NOW);
    expect(b.events.at(-1)?.payload).toEqual({
      procedure_id: PROCEDURE_ID,
      occurred_at: NOW,
      reason: "outage",
      interrupted_at,
    });
    expect(b.state).toMatchObject({
      status: "Truncated",
      interrupted_at,
      last_status_reason: "outage",
      last_status_changed_at: NOW,
      hold_claims: [],
    });
  });

  it("the Truncated fixture kept its interrupted_at", () => {
    expect(SCENARIOS.Truncated().state).toMatchObject({ status: "Truncated", interrupted_at: at(0) });
  });

  it.each(["Completed", "Aborted"] as const)("%s leaves interrupted_at null", (key) => {
    expect(SCENARIOS[key]().state?.interrupted_at).toBeNull();
  });
});

describe("fold: conduct, on_failure and replay", () => {
  it("start without conduct: on_failure recorded, no step count", () => {
    const b = build([cmd.register(), cmd.start("hold")]);
    expect(b.state).toMatchObject({ status: "Running", on_failure: "hold", step_count: null, replay: null });
  });

  it("conduct: ResolvedStepsRecorded then ProcedureStarted, step_count = resolved + closing", () => {
    const b = SCENARIOS["Running (conducted)"]();
    expect(b.events.map((e) => e.type)).toEqual(["ProcedureRegistered", "ResolvedStepsRecorded", "ProcedureStarted"]);
    expect(b.events[1]?.payload).toMatchObject({ step_count: 4 });
    expect(b.state).toMatchObject({ status: "Running", on_failure: "hold", step_count: 4, replay: null, version: 3 });
    // Both events of one conduct carry the same time.
    expect(b.events[1]?.payload.occurred_at).toBe(at(1));
    expect(b.events[2]?.payload.occurred_at).toBe(at(1));
  });

  it("a resume of a conducted procedure opens a replay from its boundary", () => {
    const held = build([cmd.register(), cmd.conduct(), cmd.hold("step-fault")]);
    expect(held.state?.replay).toBeNull();
    const b = apply(held, cmd.resume("step-fault", 3), NOW);
    expect(b.events.at(-1)).toEqual({
      type: "ProcedureResumed",
      payload: {
        procedure_id: PROCEDURE_ID,
        occurred_at: NOW,
        re_establishment_boundary: 3,
        released_claim_id: holdClaimId(PROCEDURE_ID, "step-fault"),
      },
    });
    expect(b.state).toMatchObject({ status: "Running", replay: { boundary: 3, authorized: [] }, step_count: 4 });
  });

  it("a resume of a procedure started without conduct opens no replay", () => {
    const b = apply(SCENARIOS["Held {operator}"](), cmd.resume("operator", 3), NOW);
    expect(b.state).toMatchObject({ status: "Running", replay: null, step_count: null });
  });

  it("a release that leaves claims opens no replay", () => {
    const held = build([cmd.register(), cmd.conduct(), cmd.hold("operator"), cmd.hold("step-fault")]);
    const b = apply(held, cmd.resume("step-fault", 1), NOW);
    expect(b.state).toMatchObject({ status: "Held", replay: null });
  });

  it("authorizations accumulate, survive a hold, and a new resume resets them", () => {
    let b = SCENARIOS["Running (replay from 1)"]();
    b = apply(b, cmd.authorize(1), NOW);
    b = apply(b, cmd.authorize(3), NOW);
    expect(b.state?.replay).toEqual({ boundary: 1, authorized: [1, 3] });
    b = apply(b, cmd.hold("operator"), NOW);
    expect(b.state).toMatchObject({ status: "Held", replay: { boundary: 1, authorized: [1, 3] } });
    b = apply(b, cmd.resume("operator", 0), NOW);
    expect(b.state).toMatchObject({ status: "Running", replay: { boundary: 0, authorized: [] } });
  });
});

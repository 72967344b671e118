import { describe, expect, it } from "vitest";
import { HTTP_STATUS } from "../../../src/api/problem";
import { isUuid, uuidv5 } from "../../../src/ids";
import { decide, decideConductFrom, holdClaimId, type ProcedureCommand } from "../../../src/procedure/decide";
import {
  HOLD_CAUSES,
  type HoldCause,
  type ProcedureEvent,
  type ProcedureEventType,
  type ProcedureStatus,
} from "../../../src/procedure/events";
import { evolve, type ProcedureState } from "../../../src/procedure/state";
import {
  apply,
  build,
  claimOf,
  cmd,
  CTX,
  NOW,
  OTHER_PROCEDURE_ID,
  PINNED_STEP_COUNT,
  PROCEDURE_ID,
  RESOLVED_CLOSING_STEPS,
  RESOLVED_STEPS,
  SCENARIO_KEYS,
  SCENARIOS,
  type Built,
  type ScenarioKey,
} from "./fixtures";

const PAST = "2026-11-21T04:00:00.000Z";
const FUTURE = "2026-11-21T12:00:00.001Z"; // NOW + 1 ms

function foldOnto(state: ProcedureState | null, events: readonly ProcedureEvent[]): ProcedureState | null {
  return events.reduce<ProcedureState | null>(evolve, state);
}

// ---------------------------------------------------------------------------
// The cross-product: every command from every status.
// ---------------------------------------------------------------------------

type Outcome =
  | { kind: "accept"; events: ProcedureEventType[]; status: ProcedureStatus }
  | { kind: "refuse"; error_class: string; http: number };

const ok = (status: ProcedureStatus, ...events: ProcedureEventType[]): Outcome => ({ kind: "accept", events, status });
const no = (error_class: string, http = 409): Outcome => ({ kind: "refuse", error_class, http });
const NOT_FOUND = no("ProcedureNotFound", 404);

const RUNNING: ScenarioKey[] = [
  "Running (started)",
  "Running (conducted)",
  "Running (replay from 1)",
  "Running (logbook open)",
];
const HELD: ScenarioKey[] = [
  "Held {operator}",
  "Held {step-fault}",
  "Held {driver-stand-down}",
  "Held {operator, step-fault}",
  "Held {step-fault, driver-stand-down}",
  "Held {operator, step-fault, driver-stand-down}",
  "Held {} (last claim released by event)",
];
const HELD_BY: Record<HoldCause, ScenarioKey[]> = {
  operator: HELD.filter((k) => k.includes("operator")),
  "step-fault": HELD.filter((k) => k.includes("step-fault")),
  "driver-stand-down": HELD.filter((k) => k.includes("driver-stand-down")),
  stall: [],
};

/** The status each scenario is in (null for no stream). */
const STATUS_OF: Record<ScenarioKey, ProcedureStatus | null> = {
  "no stream": null,
  Defined: "Defined",
  "Running (started)": "Running",
  "Running (conducted)": "Running",
  "Running (replay from 1)": "Running",
  "Running (logbook open)": "Running",
  "Held {operator}": "Held",
  "Held {step-fault}": "Held",
  "Held {driver-stand-down}": "Held",
  "Held {operator, step-fault}": "Held",
  "Held {step-fault, driver-stand-down}": "Held",
  "Held {operator, step-fault, driver-stand-down}": "Held",
  "Held {} (last claim released by event)": "Held",
  Completed: "Completed",
  Aborted: "Aborted",
  Truncated: "Truncated",
};

/** A full row: `otherwise` for every scenario, then the listed ones overridden. */
function row(otherwise: Outcome, ...overrides: Array<[ScenarioKey[], Outcome]>): Record<ScenarioKey, Outcome> {
  const out = Object.fromEntries(SCENARIO_KEYS.map((k) => [k, otherwise])) as Record<ScenarioKey, Outcome>;
  for (const [keys, outcome] of overrides) for (const k of keys) out[k] = outcome;
  return out;
}

const COMMANDS = {
  Register: cmd.register(),
  "Start(hold)": cmd.start("hold"),
  Conduct: cmd.conduct(),
  "Hold(operator)": cmd.hold("operator"),
  "Hold(step-fault)": cmd.hold("step-fault"),
  "Hold(driver-stand-down)": cmd.hold("driver-stand-down"),
  "Resume(operator)": cmd.resume("operator", 2),
  "Resume(step-fault)": cmd.resume("step-fault", 2),
  "Resume(driver-stand-down)": cmd.resume("driver-stand-down", 2),
  Complete: cmd.complete(),
  Abort: cmd.abort(),
  "Truncate(interrupted_at null)": cmd.truncate(null),
  "Truncate(interrupted_at past)": cmd.truncate(PAST),
  "Truncate(interrupted_at future)": cmd.truncate(FUTURE),
  OpenActivitiesLogbook: cmd.openLogbook(),
  "AuthorizeReplayStep(2)": cmd.authorize(2, true),
  RecordStepOverdue: {
    type: "RecordStepOverdue",
    step_index: 0,
    deadline_seconds: 30,
    in_flight_at: PAST,
    decision_id: "01900000-0000-5000-8000-0000000000dd",
  },
} satisfies Record<string, ProcedureCommand>;
type CommandKey = keyof typeof COMMANDS;

const holdRow = (cause: HoldCause) =>
  row(
    no("ProcedureCannotHold"),
    [["no stream"], NOT_FOUND],
    [RUNNING, ok("Held", "ProcedureHeld")],
    [HELD.filter((k) => !HELD_BY[cause].includes(k)), ok("Held", "ProcedureHeld")],
  );

const truncateRow = row(
  no("ProcedureCannotTruncate"),
  [["no stream"], NOT_FOUND],
  [[...RUNNING, ...HELD], ok("Truncated", "ProcedureTruncated")],
);

const EXPECTED: Record<CommandKey, Record<ScenarioKey, Outcome>> = {
  Register: row(no("ProcedureAlreadyExists"), [["no stream"], ok("Defined", "ProcedureRegistered")]),
  "Start(hold)": row(
    no("ProcedureCannotStart"),
    [["no stream"], NOT_FOUND],
    [["Defined"], ok("Running", "ProcedureStarted")],
  ),
  Conduct: row(
    no("ProcedureCannotStart"),
    [["no stream"], NOT_FOUND],
    [["Defined"], ok("Running", "ResolvedStepsRecorded", "ProcedureStarted")],
  ),
  "Hold(operator)": holdRow("operator"),
  "Hold(step-fault)": holdRow("step-fault"),
  "Hold(driver-stand-down)": holdRow("driver-stand-down"),
  "Resume(operator)": row(
    no("ProcedureCannotResume"),
    [["no stream"], NOT_FOUND],
    [["Held {operator}", "Held {step-fault}", "Held {driver-stand-down}"], ok("Running", "ProcedureResumed")],
    [["Held {} (last claim released by event)"], ok("Running", "ProcedureResumed")],
    [
      ["Held {operator, step-fault}", "Held {step-fault, driver-stand-down}"],
      ok("Running", "ProcedureHoldClaimReleased", "ProcedureResumed"),
    ],
    [
      ["Held {operator, step-fault, driver-stand-down}"],
      ok("Running", "ProcedureHoldClaimReleased", "ProcedureHoldClaimReleased", "ProcedureResumed"),
    ],
  ),
  "Resume(step-fault)": row(
    no("ProcedureCannotResume"),
    [["no stream"], NOT_FOUND],
    [["Held {operator}", "Held {driver-stand-down}"], no("ProcedureHoldClaimsRemain")],
    [["Held {step-fault}", "Held {} (last claim released by event)"], ok("Running", "ProcedureResumed")],
    [
      [
        "Held {operator, step-fault}",
        "Held {step-fault, driver-stand-down}",
        "Held {operator, step-fault, driver-stand-down}",
      ],
      ok("Held", "ProcedureHoldClaimReleased"),
    ],
  ),
  "Resume(driver-stand-down)": row(
    no("ProcedureCannotResume"),
    [["no stream"], NOT_FOUND],
    [["Held {operator}", "Held {step-fault}", "Held {operator, step-fault}"], no("ProcedureHoldClaimsRemain")],
    [["Held {driver-stand-down}", "Held {} (last claim released by event)"], ok("Running", "ProcedureResumed")],
    [
      ["Held {step-fault, driver-stand-down}", "Held {operator, step-fault, driver-stand-down}"],
      ok("Held", "ProcedureHoldClaimReleased"),
    ],
  ),
  Complete: row(
    no("ProcedureCannotComplete"),
    [["no stream"], NOT_FOUND],
    [RUNNING, ok("Completed", "ProcedureCompleted")],
  ),
  Abort: row(
    no("ProcedureCannotAbort"),
    [["no stream"], NOT_FOUND],
    [[...RUNNING, ...HELD], ok("Aborted", "ProcedureAborted")],
  ),
  "Truncate(interrupted_at null)": truncateRow,
  "Truncate(interrupted_at past)": truncateRow,
  // The future check is input validation: the decider makes it before the
  // status check, so every existing stream answers 400 (no stream is still 404).
  "Truncate(interrupted_at future)": row(no("InterruptedAtInFuture", 400), [["no stream"], NOT_FOUND]),
  // The decider only records the logbook marker, whatever the status (the
  // Durable Object refuses activity for a non-Running procedure before it
  // gets here); a second open yields no event at all.
  OpenActivitiesLogbook: {
    ...(Object.fromEntries(
      SCENARIO_KEYS.map((k) => [k, ok(STATUS_OF[k] ?? "Defined", "ProcedureActivitiesLogbookOpened")]),
    ) as Record<ScenarioKey, Outcome>),
    "no stream": NOT_FOUND,
    "Running (logbook open)": ok("Running"),
  },
  "AuthorizeReplayStep(2)": row(
    no("ReplayStepNotAwaitingOperator"),
    [["no stream"], NOT_FOUND],
    [["Running (replay from 1)"], ok("Running", "ProcedureReplayStepAuthorized")],
  ),
  // The watcher's StepOverdue: recorded in conduct, with no status change.
  RecordStepOverdue: row(
    no("ProcedureStepsLogbookClosed"),
    [["no stream"], NOT_FOUND],
    [RUNNING, ok("Running", "ProcedureStepOverdue")],
    [HELD, ok("Held", "ProcedureStepOverdue")],
  ),
};

const COMMAND_KEYS = Object.keys(COMMANDS) as CommandKey[];
const CROSS_PRODUCT = COMMAND_KEYS.flatMap((c) =>
  SCENARIO_KEYS.map((s) => ({ command: c, scenario: s, expected: EXPECTED[c][s] })),
);

describe("decide: every command from every status", () => {
  it("covers every command type of ProcedureCommand", () => {
    const all: Record<ProcedureCommand["type"], true> = {
      RegisterProcedure: true,
      StartProcedure: true,
      ConductProcedure: true,
      HoldProcedure: true,
      ResumeProcedure: true,
      CompleteProcedure: true,
      AbortProcedure: true,
      TruncateProcedure: true,
      OpenActivitiesLogbook: true,
      AuthorizeReplayStep: true,
      RecordStepOverdue: true,
    };
    expect(new Set(Object.values(COMMANDS).map((c) => c.type))).toEqual(new Set(Object.keys(all)));
  });

  it("has a scenario in every status, and no stream", () => {
    const statuses = new Set(SCENARIO_KEYS.map((k) => SCENARIOS[k]().state?.status ?? null));
    expect(statuses).toEqual(new Set([null, "Defined", "Running", "Held", "Completed", "Aborted", "Truncated"]));
  });

  it.each(SCENARIO_KEYS)("scenario %s is in the status the table assumes", (scenario) => {
    expect(SCENARIOS[scenario]().state?.status ?? null).toBe(STATUS_OF[scenario]);
  });

  it("generates the full cross-product", () => {
    expect(CROSS_PRODUCT).toHaveLength(COMMAND_KEYS.length * 16);
    for (const c of COMMAND_KEYS) expect(Object.keys(EXPECTED[c]).sort()).toEqual([...SCENARIO_KEYS].sort());
  });

  it.each(CROSS_PRODUCT)("$command from $scenario", ({ command, scenario, expected }) => {
    const before = SCENARIOS[scenario]();
    const snapshot = structuredClone(before.state);
    const decision = decide(before.state, COMMANDS[command], CTX);

    // The decider never mutates the state it is given.
    expect(before.state).toEqual(snapshot);

    if (expected.kind === "refuse") {
      expect(decision.ok).toBe(false);
      if (decision.ok) return;
      expect(decision.refusal.error_class).toBe(expected.error_class);
      expect(HTTP_STATUS[decision.refusal.error_class]).toBe(expected.http);
      expect(decision.refusal.detail.length).toBeGreaterThan(0);
      return;
    }

    expect(decision.ok).toBe(true);
    if (!decision.ok) return;
    const events = decision.value;
    expect(events.map((e) => e.type)).toEqual(expected.events);
    for (const event of events) {
      expect(event.payload.procedure_id).toBe(PROCEDURE_ID);
      expect(event.payload.occurred_at).toBe(NOW);
    }
    const after = foldOnto(before.state, events);
    expect(after?.status).toBe(expected.status);
    expect(after?.version).toBe((before.state?.version ?? 0) + events.length);
  });
});

// ---------------------------------------------------------------------------
// Register, start, conduct.
// ---------------------------------------------------------------------------

describe("decide: register", () => {
  it("appends ProcedureRegistered with the target ids as a set", () => {
    const decision = decide(null, cmd.register(["asset-a", "asset-b", "asset-a"]), CTX);
    expect(decision).toEqual({
      ok: true,
      value: [
        {
          type: "ProcedureRegistered",
          payload: {
            procedure_id: PROCEDURE_ID,
            occurred_at: NOW,
            name: "Beamline alignment",
            kind: "alignment",
            target_asset_ids: ["asset-a", "asset-b"],
          },
        },
      ],
    });
  });

  it("refuses a second registration naming the procedure", () => {
    const decision = decide(SCENARIOS.Defined().state, cmd.register(), CTX);
    expect(decision).toEqual({
      ok: false,
      refusal: { error_class: "ProcedureAlreadyExists", detail: `procedure ${PROCEDURE_ID} already exists` },
    });
  });

  it("answers 404 for any other command on no stream", () => {
    expect(decide(null, cmd.start(), CTX)).toEqual({
      ok: false,
      refusal: { error_class: "ProcedureNotFound", detail: `procedure ${PROCEDURE_ID} does not exist` },
    });
  });
});

describe("decide: start and conduct", () => {
  it.each(["abort", "hold"] as const)("start carries on_failure %s", (on_failure) => {
    const decision = decide(SCENARIOS.Defined().state, cmd.start(on_failure), CTX);
    expect(decision).toEqual({
      ok: true,
      value: [{ type: "ProcedureStarted", payload: { procedure_id: PROCEDURE_ID, occurred_at: NOW, on_failure } }],
    });
  });

  it("conduct pins ResolvedStepsRecorded then ProcedureStarted with step_count = resolved + closing", () => {
    const decision = decide(SCENARIOS.Defined().state, cmd.conduct("hold"), CTX);
    expect(decision).toEqual({
      ok: true,
      value: [
        {
          type: "ResolvedStepsRecorded",
          payload: {
            procedure_id: PROCEDURE_ID,
            occurred_at: NOW,
            resolved_steps: RESOLVED_STEPS,
            resolved_closing_steps: RESOLVED_CLOSING_STEPS,
            step_count: 4,
          },
        },
        { type: "ProcedureStarted", payload: { procedure_id: PROCEDURE_ID, occurred_at: NOW, on_failure: "hold" } },
      ],
    });
  });

  it("conduct with its own stall window carries it on ProcedureStarted, and the fold keeps it", () => {
    const conduct = cmd.conduct("hold") as Extract<ProcedureCommand, { type: "ConductProcedure" }>;
    const decision = decide(SCENARIOS.Defined().state, { ...conduct, stale_after_seconds: 900 }, CTX);
    if (!decision.ok) throw new Error("refused");
    expect(decision.value[1]).toEqual({
      type: "ProcedureStarted",
      payload: { procedure_id: PROCEDURE_ID, occurred_at: NOW, on_failure: "hold", stale_after_seconds: 900 },
    });
    const state = decision.value.reduce<ProcedureState | null>(evolve, SCENARIOS.Defined().state);
    expect(state).toMatchObject({ status: "Running", stale_after_seconds: 900 });
    expect(SCENARIOS.Defined().state).toMatchObject({ stale_after_seconds: null });
  });

  it.each([
    { resolved: 3, closing: 0, step_count: 3 },
    { resolved: 0, closing: 1, step_count: 1 },
    { resolved: 2, closing: 1, step_count: 3 },
    { resolved: 0, closing: 0, step_count: 0 },
  ])("conduct with $resolved resolved and $closing closing steps pins step_count $step_count", ({ resolved, closing, step_count }) => {
    const command: ProcedureCommand = {
      type: "ConductProcedure",
      on_failure: "abort",
      resolved_steps: RESOLVED_STEPS.slice(0, resolved),
      resolved_closing_steps: RESOLVED_CLOSING_STEPS.slice(0, closing),
    };
    const before = SCENARIOS.Defined();
    const decision = decide(before.state, command, CTX);
    expect(decision.ok).toBe(true);
    if (!decision.ok) return;
    const [pinned] = decision.value;
    expect(pinned?.type).toBe("ResolvedStepsRecorded");
    expect(pinned?.payload).toMatchObject({ step_count });
    const after = foldOnto(before.state, decision.value);
    expect(after).toMatchObject({ status: "Running", step_count, on_failure: "abort", version: 3 });
  });

  it("refuses conduct of a Running procedure with ProcedureCannotStart and pins nothing", () => {
    const decision = decide(SCENARIOS["Running (conducted)"]().state, cmd.conduct(), CTX);
    expect(decision).toEqual({
      ok: false,
      refusal: { error_class: "ProcedureCannotStart", detail: "cannot start a Running procedure" },
    });
  });
});

// ---------------------------------------------------------------------------
// Hold claims.
// ---------------------------------------------------------------------------

describe("hold claims", () => {
  it.each(HOLD_CAUSES)("the %s claim id is the UUIDv5 of `{procedure_id}|{cause}`", (cause) => {
    const id = holdClaimId(PROCEDURE_ID, cause);
    expect(id).toBe(uuidv5(`${PROCEDURE_ID}|${cause}`));
    expect(isUuid(id)).toBe(true);
    expect(id[14]).toBe("5");
    expect(holdClaimId(PROCEDURE_ID, cause)).toBe(id);
    expect(holdClaimId(OTHER_PROCEDURE_ID, cause)).not.toBe(id);
  });

  it("gives each cause its own claim id", () => {
    expect(new Set(HOLD_CAUSES.map((c) => holdClaimId(PROCEDURE_ID, c))).size).toBe(HOLD_CAUSES.length);
  });

  it.each(HOLD_CAUSES)("a hold by %s from Running appends ProcedureHeld with the deterministic claim", (cause) => {
    const before = SCENARIOS["Running (started)"]();
    const decision = decide(before.state, cmd.hold(cause, "checking the beam"), CTX);
    expect(decision).toEqual({
      ok: true,
      value: [
        {
          type: "ProcedureHeld",
          payload: {
            procedure_id: PROCEDURE_ID,
            occurred_at: NOW,
            reason: "checking the beam",
            cause,
            claim_id: uuidv5(`${PROCEDURE_ID}|${cause}`),
          },
        },
      ],
    });
    if (!decision.ok) return;
    expect(foldOnto(before.state, decision.value)).toMatchObject({
      status: "Held",
      hold_claims: [claimOf(cause)],
      last_status_reason: "checking the beam",
      last_status_changed_at: NOW,
    });
  });

  it("the claim id depends on the procedure id the context names", () => {
    const before = SCENARIOS["Running (started)"]();
    const decision = decide(before.state, cmd.hold("operator"), { procedure_id: OTHER_PROCEDURE_ID, now: NOW });
    expect(decision.ok && decision.value[0]?.payload).toMatchObject({
      procedure_id: OTHER_PROCEDURE_ID,
      claim_id: uuidv5(`${OTHER_PROCEDURE_ID}|operator`),
    });
  });

  it.each(HOLD_CAUSES)("the same cause %s twice is refused with ProcedureCannotHold", (cause) => {
    const held = build([cmd.register(), cmd.start(), cmd.hold(cause)]);
    expect(decide(held.state, cmd.hold(cause), CTX)).toEqual({
      ok: false,
      refusal: { error_class: "ProcedureCannotHold", detail: `the ${cause} cause already holds a claim` },
    });
  });

  it("a second cause adds a second claim, in order", () => {
    const held = SCENARIOS["Held {operator}"]();
    const decision = decide(held.state, cmd.hold("driver-stand-down", "driver lost"), CTX);
    expect(decision.ok).toBe(true);
    if (!decision.ok) return;
    expect(foldOnto(held.state, decision.value)).toMatchObject({
      status: "Held",
      hold_claims: [claimOf("operator"), claimOf("driver-stand-down")],
      last_status_reason: "driver lost",
    });
  });

  it.each(["Defined", "Completed", "Aborted", "Truncated"] as const)("refuses a hold of a %s procedure", (scenario) => {
    expect(decide(SCENARIOS[scenario]().state, cmd.hold("operator"), CTX)).toEqual({
      ok: false,
      refusal: { error_class: "ProcedureCannotHold", detail: `cannot hold ${scenario === "Aborted" ? "an" : "a"} ${scenario} procedure` },
    });
  });
});

describe("resume and hold claims", () => {
  const released = (cause: HoldCause): ProcedureEvent => ({
    type: "ProcedureHoldClaimReleased",
    payload: { procedure_id: PROCEDURE_ID, occurred_at: NOW, ...claimOf(cause) },
  });
  const resumed = (released_claim_id: string | null, re_establishment_boundary = 2): ProcedureEvent => ({
    type: "ProcedureResumed",
    payload: { procedure_id: PROCEDURE_ID, occurred_at: NOW, re_establishment_boundary, released_claim_id },
  });

  it.each<{ scenario: ScenarioKey; cause: HoldCause; events: ProcedureEvent[]; status: ProcedureStatus; remaining: HoldCause[] }>([
    // The last claim: resumes.
    { scenario: "Held {operator}", cause: "operator", events: [resumed(holdClaimId(PROCEDURE_ID, "operator"))], status: "Running", remaining: [] },
    { scenario: "Held {step-fault}", cause: "step-fault", events: [resumed(holdClaimId(PROCEDURE_ID, "step-fault"))], status: "Running", remaining: [] },
    { scenario: "Held {driver-stand-down}", cause: "driver-stand-down", events: [resumed(holdClaimId(PROCEDURE_ID, "driver-stand-down"))], status: "Running", remaining: [] },
    // Other claims remain: only the caller's release, still Held.
    { scenario: "Held {operator, step-fault}", cause: "step-fault", events: [released("step-fault")], status: "Held", remaining: ["operator"] },
    { scenario: "Held {step-fault, driver-stand-down}", cause: "step-fault", events: [released("step-fault")], status: "Held", remaining: ["driver-stand-down"] },
    { scenario: "Held {step-fault, driver-stand-down}", cause: "driver-stand-down", events: [released("driver-stand-down")], status: "Held", remaining: ["step-fault"] },
    { scenario: "Held {operator, step-fault, driver-stand-down}", cause: "step-fault", events: [released("step-fault")], status: "Held", remaining: ["operator", "driver-stand-down"] },
    { scenario: "Held {operator, step-fault, driver-stand-down}", cause: "driver-stand-down", events: [released("driver-stand-down")], status: "Held", remaining: ["operator", "step-fault"] },
    // An operator resume clears the attention claims in the same act; its own claim goes with the resume.
    { scenario: "Held {operator, step-fault}", cause: "operator", events: [released("step-fault"), resumed(holdClaimId(PROCEDURE_ID, "operator"))], status: "Running", remaining: [] },
    {
      scenario: "Held {operator, step-fault, driver-stand-down}",
      cause: "operator",
      events: [released("step-fault"), released("driver-stand-down"), resumed(holdClaimId(PROCEDURE_ID, "operator"))],
      status: "Running",
      remaining: [],
    },
    // An operator resume with only attention claims resumes.
    { scenario: "Held {step-fault}", cause: "operator", events: [resumed(holdClaimId(PROCEDURE_ID, "step-fault"))], status: "Running", remaining: [] },
    { scenario: "Held {driver-stand-down}", cause: "operator", events: [resumed(holdClaimId(PROCEDURE_ID, "driver-stand-down"))], status: "Running", remaining: [] },
    {
      scenario: "Held {step-fault, driver-stand-down}",
      cause: "operator",
      events: [released("step-fault"), resumed(holdClaimId(PROCEDURE_ID, "driver-stand-down"))],
      status: "Running",
      remaining: [],
    },
    // A Held with no claims at all resumes, releasing nothing.
    { scenario: "Held {} (last claim released by event)", cause: "operator", events: [resumed(null)], status: "Running", remaining: [] },
    { scenario: "Held {} (last claim released by event)", cause: "step-fault", events: [resumed(null)], status: "Running", remaining: [] },
    { scenario: "Held {} (last claim released by event)", cause: "driver-stand-down", events: [resumed(null)], status: "Running", remaining: [] },
  ])("$scenario resumed by $cause -> $status", ({ scenario, cause, events, status, remaining }) => {
    const before = SCENARIOS[scenario]();
    const decision = decide(before.state, cmd.resume(cause, 2), CTX);
    expect(decision).toEqual({ ok: true, value: events });
    const after = foldOnto(before.state, events);
    expect(after?.status).toBe(status);
    expect(after?.hold_claims).toEqual(remaining.map((c) => claimOf(c)));
    expect(after?.last_status_changed_at).toBe(status === "Running" ? NOW : before.state?.last_status_changed_at);
  });

  it.each<{ scenario: ScenarioKey; cause: HoldCause; blocking: HoldCause[] }>([
    { scenario: "Held {operator}", cause: "driver-stand-down", blocking: ["operator"] },
    { scenario: "Held {operator}", cause: "step-fault", blocking: ["operator"] },
    { scenario: "Held {step-fault}", cause: "driver-stand-down", blocking: ["step-fault"] },
    { scenario: "Held {driver-stand-down}", cause: "step-fault", blocking: ["driver-stand-down"] },
    { scenario: "Held {operator, step-fault}", cause: "driver-stand-down", blocking: ["operator", "step-fault"] },
  ])("$scenario resumed by $cause (owning no claim) is refused naming $blocking", ({ scenario, cause, blocking }) => {
    const decision = decide(SCENARIOS[scenario]().state, cmd.resume(cause), CTX);
    expect(decision.ok).toBe(false);
    if (decision.ok) return;
    expect(decision.refusal.error_class).toBe("ProcedureHoldClaimsRemain");
    expect(HTTP_STATUS[decision.refusal.error_class]).toBe(409);
    expect(decision.refusal.detail).toContain(`held by ${blocking.join(", ")}`);
    for (const b of blocking) expect(decision.refusal.detail).toContain(b);
  });

  it("a full round trip of claims: two releases then the resume", () => {
    let b: Built = SCENARIOS["Held {operator, step-fault, driver-stand-down}"]();
    b = apply(b, cmd.resume("driver-stand-down"));
    expect(b.state).toMatchObject({ status: "Held", hold_claims: [claimOf("operator"), claimOf("step-fault")] });
    b = apply(b, cmd.resume("step-fault"));
    expect(b.state).toMatchObject({ status: "Held", hold_claims: [claimOf("operator")] });
    const last = decide(b.state, cmd.resume("operator", 0), CTX);
    expect(last.ok && last.value.map((e) => e.type)).toEqual(["ProcedureResumed"]);
    expect(last.ok && last.value[0]?.payload).toMatchObject({ released_claim_id: holdClaimId(PROCEDURE_ID, "operator") });
  });

  it("a released cause may hold again", () => {
    const b = apply(SCENARIOS["Held {operator, step-fault}"](), cmd.resume("step-fault"));
    const decision = decide(b.state, cmd.hold("step-fault"), CTX);
    expect(decision.ok && decision.value[0]?.payload).toMatchObject({ claim_id: holdClaimId(PROCEDURE_ID, "step-fault") });
  });

  it.each(["Defined", "Running (started)", "Completed", "Aborted", "Truncated"] as const)(
    "refuses a resume of a %s procedure",
    (scenario) => {
      const status = SCENARIOS[scenario]().state?.status;
      expect(decide(SCENARIOS[scenario]().state, cmd.resume("operator"), CTX)).toEqual({
        ok: false,
        refusal: { error_class: "ProcedureCannotResume", detail: `cannot resume ${status === "Aborted" ? "an" : "a"} ${status} procedure` },
      });
    },
  );
});

// ---------------------------------------------------------------------------
// Complete, abort, truncate, logbook.
// ---------------------------------------------------------------------------

describe("decide: complete, abort, truncate", () => {
  it("complete appends an empty ProcedureCompleted", () => {
    expect(decide(SCENARIOS["Running (started)"]().state, cmd.complete(), CTX)).toEqual({
      ok: true,
      value: [{ type: "ProcedureCompleted", payload: { procedure_id: PROCEDURE_ID, occurred_at: NOW } }],
    });
  });

  it("a Held procedure must resume before it completes", () => {
    expect(decide(SCENARIOS["Held {operator}"]().state, cmd.complete(), CTX)).toEqual({
      ok: false,
      refusal: { error_class: "ProcedureCannotComplete", detail: "cannot complete a Held procedure" },
    });
  });

  it("abort carries its reason", () => {
    expect(decide(SCENARIOS["Held {operator, step-fault}"]().state, cmd.abort("sample cracked"), CTX)).toEqual({
      ok: true,
      value: [{ type: "ProcedureAborted", payload: { procedure_id: PROCEDURE_ID, occurred_at: NOW, reason: "sample cracked" } }],
    });
  });

  it.each([
    { label: "null", interrupted_at: null },
    { label: "in the past", interrupted_at: PAST },
    { label: "equal to now", interrupted_at: NOW },
  ])("truncate with interrupted_at $label is accepted and carries it", ({ interrupted_at }) => {
    expect(decide(SCENARIOS["Running (started)"]().state, cmd.truncate(interrupted_at, "power cut"), CTX)).toEqual({
      ok: true,
      value: [
        {
          type: "ProcedureTruncated",
          payload: { procedure_id: PROCEDURE_ID, occurred_at: NOW, reason: "power cut", interrupted_at },
        },
      ],
    });
  });

  it("truncate keeps the interrupted_at key present when it is null", () => {
    const decision = decide(SCENARIOS["Held {operator}"]().state, cmd.truncate(null), CTX);
    expect(decision.ok && Object.hasOwn(decision.value[0]!.payload, "interrupted_at")).toBe(true);
  });

  it("truncate with interrupted_at 1 ms in the future is a 400", () => {
    expect(decide(SCENARIOS["Running (started)"]().state, cmd.truncate(FUTURE), CTX)).toEqual({
      ok: false,
      refusal: { error_class: "InterruptedAtInFuture", detail: "interrupted_at must not be in the future" },
    });
  });

  // Instants are compared, not strings: a client may send fewer fraction digits
  // than the service's own clock.
  it("truncate with a past interrupted_at written without milliseconds is accepted", () => {
    const ctx = { procedure_id: PROCEDURE_ID, now: "2026-11-21T12:00:00.500Z" };
    const decision = decide(SCENARIOS["Running (started)"]().state, cmd.truncate("2026-11-21T12:00:00Z"), ctx);
    expect(decision.ok).toBe(true);
  });

  it("truncate with interrupted_at equal to now at lower precision is accepted", () => {
    const ctx = { procedure_id: PROCEDURE_ID, now: "2026-11-21T12:00:00.900Z" };
    const decision = decide(SCENARIOS["Running (started)"]().state, cmd.truncate("2026-11-21T12:00:00.9Z"), ctx);
    expect(decision.ok).toBe(true);
  });
});

describe("decide: activities logbook marker", () => {
  it("the first open appends ProcedureActivitiesLogbookOpened", () => {
    expect(decide(SCENARIOS["Running (started)"]().state, cmd.openLogbook("01900000-0000-7000-8000-0000000000c3"), CTX)).toEqual({
      ok: true,
      value: [
        {
          type: "ProcedureActivitiesLogbookOpened",
          payload: { procedure_id: PROCEDURE_ID, occurred_at: NOW, logbook_id: "01900000-0000-7000-8000-0000000000c3" },
        },
      ],
    });
  });

  it("a second open appends nothing and keeps the first logbook id", () => {
    const open = SCENARIOS["Running (logbook open)"]();
    expect(decide(open.state, cmd.openLogbook("01900000-0000-7000-8000-0000000000c3"), CTX)).toEqual({ ok: true, value: [] });
    expect(open.state?.activity_logbook_id).toBe("01900000-0000-7000-8000-00000000f00d");
  });
});

// ---------------------------------------------------------------------------
// Replay authorization.
// ---------------------------------------------------------------------------

describe("AuthorizeReplayStep", () => {
  const replaying = () => SCENARIOS["Running (replay from 1)"](); // boundary 1, step_count 4

  it("the replay fixture is a resume of a conducted procedure from boundary 1", () => {
    expect(replaying().state).toMatchObject({ status: "Running", step_count: PINNED_STEP_COUNT, replay: { boundary: 1, authorized: [] } });
  });

  it.each([1, 2, 3])("authorizes step %i (boundary <= index < step_count) and records it", (step_index) => {
    const before = replaying();
    const decision = decide(before.state, cmd.authorize(step_index, true), CTX);
    expect(decision).toEqual({
      ok: true,
      value: [{ type: "ProcedureReplayStepAuthorized", payload: { procedure_id: PROCEDURE_ID, occurred_at: NOW, step_index } }],
    });
    if (!decision.ok) return;
    const after = foldOnto(before.state, decision.value);
    expect(after?.replay).toEqual({ boundary: 1, authorized: [step_index] });
    expect(after?.status).toBe("Running");
    expect(after?.last_status_changed_at).toBe(before.state?.last_status_changed_at);
  });

  it("records several go-aheads in order", () => {
    const b = build([cmd.authorize(3), cmd.authorize(1)], replaying());
    expect(b.state?.replay).toEqual({ boundary: 1, authorized: [3, 1] });
  });

  it.each<{ label: string; setup: () => Built; command: ProcedureCommand }>([
    { label: "the step needs no operator", setup: replaying, command: cmd.authorize(2, false) },
    { label: "the index is before the boundary", setup: replaying, command: cmd.authorize(0, true) },
    { label: "the index is the step count", setup: replaying, command: cmd.authorize(PINNED_STEP_COUNT, true) },
    { label: "the index is past the step count", setup: replaying, command: cmd.authorize(99, true) },
    { label: "the step already has the go-ahead", setup: () => apply(replaying(), cmd.authorize(2)), command: cmd.authorize(2, true) },
    { label: "the replay is Held again", setup: () => apply(replaying(), cmd.hold("step-fault")), command: cmd.authorize(2, true) },
    { label: "the replay completed", setup: () => apply(replaying(), cmd.complete()), command: cmd.authorize(2, true) },
    { label: "the procedure was conducted but never resumed", setup: SCENARIOS["Running (conducted)"], command: cmd.authorize(2, true) },
    {
      label: "the procedure was started without conduct and resumed",
      setup: () => build([cmd.register(), cmd.start(), cmd.hold("operator"), cmd.resume("operator", 1)]),
      command: cmd.authorize(2, true),
    },
  ])("is refused when $label", ({ setup, command }) => {
    const decision = decide(setup().state, command, CTX);
    expect(decision.ok).toBe(false);
    if (decision.ok) return;
    expect(decision.refusal).toMatchObject({ error_class: "ReplayStepNotAwaitingOperator" });
  });

  it("a resume from the end of the pinned steps completes the procedure; conduct-from decides the same", () => {
    const held = apply(replaying(), cmd.hold("operator"));
    const resumed = decide(held.state, cmd.resume("operator", PINNED_STEP_COUNT), CTX);
    expect(resumed.ok && resumed.value.map((e) => e.type)).toEqual(["ProcedureResumed", "ProcedureCompleted"]);
    const from = decideConductFrom(held.state, PINNED_STEP_COUNT, CTX);
    expect(from.ok && from.value.state.status).toBe("Completed");
    expect(from.ok && from.value.events).toEqual(resumed.ok && resumed.value);
    const short = decide(held.state, cmd.resume("operator", PINNED_STEP_COUNT - 1), CTX);
    expect(short.ok && short.value.map((e) => e.type)).toEqual(["ProcedureResumed"]);
  });

  it("conduct-from refuses a procedure started without conduct", () => {
    const held = SCENARIOS["Held {operator}"]();
    expect(decideConductFrom(held.state, 0, CTX)).toMatchObject({ ok: false, refusal: { error_class: "ProcedureNotConducted" } });
  });

  it("a new resume starts a new replay with no go-aheads", () => {
    let b = apply(replaying(), cmd.authorize(2));
    b = apply(b, cmd.hold("operator"));
    expect(b.state?.replay).toEqual({ boundary: 1, authorized: [2] });
    b = apply(b, cmd.resume("operator", 2));
    expect(b.state?.replay).toEqual({ boundary: 2, authorized: [] });
    expect(decide(b.state, cmd.authorize(2), CTX).ok).toBe(true);
    expect(decide(b.state, cmd.authorize(1), CTX).ok).toBe(false);
  });
});

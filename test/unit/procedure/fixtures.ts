// Shared fixtures for the pure procedure core: every state is reached by
// folding events the decider itself yielded (decide + evolve), never by
// hand-writing a ProcedureState.
import type { StepPayload } from "../../../src/conduct/steps";
import { decide, holdClaimId, type DecideContext, type ProcedureCommand } from "../../../src/procedure/decide";
import type { HoldCause, ProcedureEvent } from "../../../src/procedure/events";
import { evolve, type ProcedureState } from "../../../src/procedure/state";

export const PROCEDURE_ID = "01900000-0000-7000-8000-0000000000a1";
export const OTHER_PROCEDURE_ID = "01900000-0000-7000-8000-0000000000b2";

/** The time of the command under test: later than every step of a build. */
export const NOW = "2026-11-21T12:00:00.000Z";
export const CTX: DecideContext = { procedure_id: PROCEDURE_ID, now: NOW };

const BUILD_START = Date.parse("2026-11-21T05:00:00.000Z");
/** The time of the i-th command of a build: one minute apart, all before NOW. */
export const at = (i: number): string => new Date(BUILD_START + i * 60_000).toISOString();

export const RESOLVED_STEPS: StepPayload[] = [
  { kind: "setpoint", address: "stage:x", value: 1.5, verify: true },
  { kind: "action", name: "open_shutter", params: { mode: "fast" } },
  { kind: "check", address: "stage:x", criterion: { kind: "within_tolerance", expected: 1.5, tolerance: 0.01 } },
];
export const RESOLVED_CLOSING_STEPS: StepPayload[] = [{ kind: "setpoint", address: "stage:x", value: 0, verify: false }];
export const PINNED_STEP_COUNT = RESOLVED_STEPS.length + RESOLVED_CLOSING_STEPS.length; // 4

export const cmd = {
  register: (target_asset_ids = ["asset-a", "asset-b"]): ProcedureCommand => ({
    type: "RegisterProcedure",
    name: "Beamline alignment",
    kind: "alignment",
    target_asset_ids,
  }),
  start: (on_failure: "abort" | "hold" = "abort"): ProcedureCommand => ({ type: "StartProcedure", on_failure }),
  conduct: (on_failure: "abort" | "hold" = "hold"): ProcedureCommand => ({
    type: "ConductProcedure",
    on_failure,
    resolved_steps: RESOLVED_STEPS,
    resolved_closing_steps: RESOLVED_CLOSING_STEPS,
  }),
  hold: (cause: HoldCause, reason = `held by ${cause}`): ProcedureCommand => ({ type: "HoldProcedure", reason, cause }),
  resume: (cause: HoldCause, re_establishment_boundary = 0): ProcedureCommand => ({
    type: "ResumeProcedure",
    re_establishment_boundary,
    cause,
  }),
  complete: (): ProcedureCommand => ({ type: "CompleteProcedure" }),
  abort: (reason = "operator abort"): ProcedureCommand => ({ type: "AbortProcedure", reason }),
  truncate: (interrupted_at: string | null, reason = "power cut"): ProcedureCommand => ({
    type: "TruncateProcedure",
    reason,
    interrupted_at,
  }),
  openLogbook: (logbook_id = "01900000-0000-7000-8000-00000000f00d"): ProcedureCommand => ({
    type: "OpenActivitiesLogbook",
    logbook_id,
  }),
  authorize: (step_index: number, requires_operator = true): ProcedureCommand => ({
    type: "AuthorizeReplayStep",
    step_index,
    requires_operator,
  }),
};

export interface Built {
  state: ProcedureState | null;
  /** Every event of the stream so far, in order. */
  events: ProcedureEvent[];
  /** How many commands the build ran (the next one runs at `at(steps)`). */
  steps: number;
}

export const EMPTY: Built = { state: null, events: [], steps: 0 };

/** Decides one command at `now` and folds what it yields; a refusal is a broken fixture. */
export function apply(built: Built, command: ProcedureCommand, now: string = at(built.steps)): Built {
  const decision = decide(built.state, command, { procedure_id: PROCEDURE_ID, now });
  if (!decision.ok) {
    throw new Error(`fixture refused ${command.type}: ${decision.refusal.error_class} ${decision.refusal.detail}`);
  }
  const state = decision.value.reduce<ProcedureState | null>(evolve, built.state);
  return { state, events: [...built.events, ...decision.value], steps: built.steps + 1 };
}

/** Runs commands in order, the i-th at `at(i)` (continuing from `from`). */
export function build(commands: ProcedureCommand[], from: Built = EMPTY): Built {
  return commands.reduce<Built>((b, c) => apply(b, c), from);
}

/** Folds one raw event (used only for a stream the decider never yields). */
export function applyEvent(built: Built, event: ProcedureEvent): Built {
  return { state: evolve(built.state, event), events: [...built.events, event], steps: built.steps + 1 };
}

export const claimOf = (cause: HoldCause, id = PROCEDURE_ID) => ({ claim_id: holdClaimId(id, cause), cause });

/** The states the cross-product runs every command from. */
export const SCENARIOS = {
  "no stream": () => EMPTY,
  Defined: () => build([cmd.register()]),
  "Running (started)": () => build([cmd.register(), cmd.start()]),
  "Running (conducted)": () => build([cmd.register(), cmd.conduct()]),
  "Running (replay from 1)": () => build([cmd.register(), cmd.conduct(), cmd.hold("operator"), cmd.resume("operator", 1)]),
  "Running (logbook open)": () => build([cmd.register(), cmd.start(), cmd.openLogbook()]),
  "Held {operator}": () => build([cmd.register(), cmd.start(), cmd.hold("operator")]),
  "Held {step-fault}": () => build([cmd.register(), cmd.start(), cmd.hold("step-fault")]),
  "Held {driver-stand-down}": () => build([cmd.register(), cmd.start(), cmd.hold("driver-stand-down")]),
  "Held {operator, step-fault}": () =>
    build([cmd.register(), cmd.start(), cmd.hold("operator"), cmd.hold("step-fault")]),
  "Held {step-fault, driver-stand-down}": () =>
    build([cmd.register(), cmd.start(), cmd.hold("step-fault"), cmd.hold("driver-stand-down")]),
  "Held {operator, step-fault, driver-stand-down}": () =>
    build([cmd.register(), cmd.start(), cmd.hold("operator"), cmd.hold("step-fault"), cmd.hold("driver-stand-down")]),
  // The decider never releases the last claim with ProcedureHoldClaimReleased
  // (it appends ProcedureResumed instead), so a Held with no claims is reached
  // by folding that release event directly: a stream the fold must still accept.
  "Held {} (last claim released by event)": () => {
    const held = build([cmd.register(), cmd.start(), cmd.hold("operator")]);
    return applyEvent(held, {
      type: "ProcedureHoldClaimReleased",
      payload: { procedure_id: PROCEDURE_ID, occurred_at: at(held.steps), ...claimOf("operator") },
    });
  },
  Completed: () => build([cmd.register(), cmd.start(), cmd.complete()]),
  Aborted: () => build([cmd.register(), cmd.start(), cmd.hold("operator"), cmd.hold("step-fault"), cmd.abort()]),
  Truncated: () => build([cmd.register(), cmd.start(), cmd.truncate(at(0))]),
} satisfies Record<string, () => Built>;

export type ScenarioKey = keyof typeof SCENARIOS;
export const SCENARIO_KEYS = Object.keys(SCENARIOS) as ScenarioKey[];

// The lifecycle commands an operator runs from a procedure's page. Each shows
// only when the caller's roles grant it and the status allows it, and asks for
// confirmation plus whatever the API needs (a reason, a boundary).
import type { CommandName } from "../../src/auth/grants";
import type { ConfirmSpec } from "./dialog";
import { h } from "./dom";
import { stallWarning } from "./progress";
import { boundaryLabel, pastLastStep, replayWords, stepLabel } from "./steps";
import type { Procedure, ResumePoint } from "./types";
import type { ViewContext } from "./view";

interface Action {
  id: string;
  label(p: Procedure, rp: ResumePoint | null): string;
  command: CommandName;
  when(p: Procedure, rp: ResumePoint | null): boolean;
  confirm(p: Procedure, rp: ResumePoint | null): ConfirmSpec;
  path: string;
  body(input: { reason?: string; boundary?: number }, rp: ResumePoint | null): unknown;
  danger?: boolean;
}

const inConduct = (p: Procedure) => p.status === "Running" || p.status === "Held";

/** A resume's message, led by the stall warning when the current episode has a Stall decision (warn-at-resume). */
const warned = (p: Procedure, rp: ResumePoint | null, message: string) => {
  const warning = stallWarning(p, rp);
  return warning ? `${warning} ${message}` : message;
};

const CLAIMS_RELEASED = "yours, and any step-fault, stand-down or stall claim";
const REPLAY_GO_AHEAD = "Replayed action and compute steps wait for your go-ahead, since running one again may repeat a physical effect.";

/** A boundary as a step, or past the last one. */
const boundaryName = (boundary: number, stepCount: number | null) => `${pastLastStep(boundary, stepCount) ? "" : "step "}${boundaryLabel(boundary, stepCount)}`;

/** The conduct-from button: where the replay starts, without asking. */
const resumeHereLabel = (p: Procedure, rp: ResumePoint) => `Resume where it stopped (${boundaryLabel(rp.suggested_boundary, p.step_count)})`;

const ACTIONS: Action[] = [
  {
    id: "hold",
    label: () => "Hold",
    command: "HoldProcedure",
    // A Held procedure is already paused: a second operator claim is refused anyway.
    when: (p) => p.status === "Running",
    confirm: (p) => ({
      title: `Hold ${p.name}`,
      message: "Adds an operator hold claim. Gateways' entries are refused until the procedure is resumed.",
      confirmLabel: "Hold",
      reason: { label: "Reason for the hold" },
    }),
    path: "hold",
    body: ({ reason }) => ({ reason }),
  },
  {
    // The resume command: the operator picks the boundary. Beside conduct-from it is the way to start a replay elsewhere than where the procedure stopped.
    id: "resume",
    label: (p) => (p.step_count === null ? "Resume" : "Resume from a chosen step…"),
    command: "ResumeProcedure",
    when: (p) => p.status === "Held",
    confirm: (p, rp) =>
      p.step_count === null
        ? {
            title: `Resume ${p.name}`,
            message: warned(p, rp, `Releases every hold claim (${CLAIMS_RELEASED}) and the procedure runs again: its logbook takes entries again.`),
            confirmLabel: stallWarning(p, rp) ? "Resume anyway" : "Resume",
          }
        : {
            title: `Resume ${p.name} from a chosen step`,
            message: warned(
              p,
              rp,
              `Releases every hold claim (${CLAIMS_RELEASED}) and replays the pinned steps from the step you enter, exactly as pinned: the steps before it count as done. Enter an earlier step to run more again, a later one to skip some; #0 runs them all again.${rp ? ` It stopped at ${boundaryName(rp.suggested_boundary, p.step_count)}: "${resumeHereLabel(p, rp)}" resumes there.` : ""} ${REPLAY_GO_AHEAD}`,
            ),
            confirmLabel: stallWarning(p, rp) ? "Resume anyway" : "Resume",
            boundary: { label: "Replay from step #", value: rp?.suggested_boundary ?? 0, max: p.step_count },
          },
    path: "resume",
    body: ({ boundary }) => ({ re_establishment_boundary: boundary ?? 0 }),
  },
  {
    // The conduct-from command: the same release and replay, from the suggested boundary, no choice asked for.
    id: "conduct-from",
    // Offered only with a resume point (`when`).
    label: (p, rp) => resumeHereLabel(p, rp!),
    command: "ConductProcedureFrom",
    when: (p, rp) => p.status === "Held" && rp !== null,
    confirm: (p, rp) => ({
      title: `Resume ${p.name} where it stopped`,
      message: warned(
        p,
        rp,
        `Releases every hold claim (${CLAIMS_RELEASED}) and replays from ${boundaryName(rp!.suggested_boundary, p.step_count)}, the suggested boundary: the step that was interrupted, or else the first not done. ${replayWords(rp!.suggested_boundary, p.step_count)} ${REPLAY_GO_AHEAD} To replay from another step, use "Resume from a chosen step…".`,
      ),
      confirmLabel: stallWarning(p, rp) ? "Resume here anyway" : "Resume here",
    }),
    path: "conduct-from",
    body: (_input, rp) => ({ re_establishment_boundary: rp!.suggested_boundary }),
  },
  {
    id: "complete",
    label: () => "Complete",
    command: "CompleteProcedure",
    when: (p) => p.status === "Running" && p.step_count === null,
    confirm: (p) => ({ title: `Complete ${p.name}`, message: "Marks this free-form procedure Completed.", confirmLabel: "Complete" }),
    path: "complete",
    body: () => undefined,
  },
  {
    id: "abort",
    label: () => "Abort",
    command: "AbortProcedure",
    when: inConduct,
    danger: true,
    confirm: (p) => ({
      title: `Abort ${p.name}`,
      message: "Ends the procedure as Aborted. This cannot be undone.",
      confirmLabel: "Abort procedure",
      danger: true,
      reason: { label: "Reason for aborting" },
    }),
    path: "abort",
    body: ({ reason }) => ({ reason }),
  },
  {
    id: "truncate",
    label: () => "Truncate",
    command: "TruncateProcedure",
    when: inConduct,
    danger: true,
    confirm: (p) => ({
      title: `Truncate ${p.name}`,
      message: "Ends the procedure as Truncated: what was recorded stands, nothing more runs. This cannot be undone.",
      confirmLabel: "Truncate procedure",
      danger: true,
      reason: { label: "Reason for truncating" },
    }),
    path: "truncate",
    body: ({ reason }) => ({ reason }),
  },
];

/** The buttons for what this caller may do to this procedure now. */
export function actionButtons(ctx: ViewContext, p: Procedure, rp: ResumePoint | null): HTMLElement[] {
  return ACTIONS.filter((a) => ctx.can(a.command) && a.when(p, rp)).map((a) =>
    h(
      "button",
      {
        type: "button",
        id: `action-${a.id}`,
        class: a.danger ? "danger-outline" : "secondary",
        onclick: () =>
          void ctx.act(a.confirm(p, rp), (input) => ctx.api("POST", `/v1/procedures/${p.procedure_id}/${a.path}`, a.body(input, rp))),
      },
      a.label(p, rp),
    ),
  );
}

/** The go-ahead button of a replayed step waiting for the operator. */
export function goAheadButton(ctx: ViewContext, p: Procedure, stepIndex: number, description: string): HTMLElement | null {
  if (!ctx.can("AuthorizeReplayStep")) return null;
  return h(
    "button",
    {
      type: "button",
      id: `go-ahead-${stepIndex}`,
      class: "primary small",
      onclick: () =>
        void ctx.act(
          {
            title: `Go-ahead for step ${stepLabel(stepIndex)}`,
            message: `Lets the gateway run and report step ${stepLabel(stepIndex)} again (${description}). It may repeat a physical effect.`,
            confirmLabel: "Give go-ahead",
          },
          () => ctx.api("POST", `/v1/procedures/${p.procedure_id}/go-ahead`, { step_index: stepIndex }),
        ),
    },
    "Give go-ahead",
  );
}

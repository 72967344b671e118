// The reference gateway: runs a conducted procedure's pinned steps on an
// instrument and reports each through the client's activity writer.
//
// - A step with an effect (setpoint, action, compute) is reported `in_flight`,
//   and that report is recorded, before the effect: an interruption then
//   names the step that may have half-happened.
// - A long effect sends heartbeats, so the stall watcher sees it alive. A step
//   conducted with `deadline_seconds` is logged with it: heartbeats do not
//   extend a deadline, so a step that overruns it gets a StepOverdue decision.
// - A failed step is reported and the gateway waits: with `on_failure: "hold"`
//   the procedure is Held by the step fault until an operator resumes it
//   (`conduct-from`); the gateway then continues from that boundary, the
//   replay plan, and before a replayed action or compute it waits for the
//   operator's go-ahead (the step leaves the state's `replay_awaiting_operator`).
import {
  type ActivityWriter,
  type ActivityWriterOptions,
  type Clock,
  isProblem,
  type Procedure,
  type ProcedureHandle,
  type Step,
} from "../../clients/typescript/src/index.ts";
import { type Instrument, InstrumentError } from "./instrument.ts";

export interface GatewayOptions {
  procedure: ProcedureHandle;
  instrument: Instrument;
  clock: Clock;
  log?: (line: string) => void;
  /** How often the procedure's state is read while waiting for an operator. Default 1 s. */
  pollMs?: number;
  /** A heartbeat this often during a long effect; 0 sends none. Default 10 s. */
  heartbeatMs?: number;
  /** How close a verified setpoint's readback must come. Default 1e-6. */
  verifyTolerance?: number;
  writer?: ActivityWriterOptions;
}

type Segment = "done" | "failed" | "interrupted";
type Measured = Record<string, unknown>;
/** A step the instrument ran but whose result is wrong (not reached, out of tolerance). */
class Failure {
  readonly errorClass: string;
  readonly message: string;
  readonly extra: Measured;

  constructor(errorClass: string, message: string, extra: Measured = {}) {
    this.errorClass = errorClass;
    this.message = message;
    this.extra = extra;
  }
}

const TERMINAL = new Set<Procedure["status"]>(["Completed", "Aborted", "Truncated"]);

/** Runs the procedure until it ends (Completed, Aborted or Truncated) and answers its final state. */
export async function runGateway(options: GatewayOptions): Promise<Procedure> {
  const { procedure, clock } = options;
  const log = options.log ?? (() => {});
  const pollMs = options.pollMs ?? 1000;
  const manifest = await procedure.manifest();
  const steps: Step[] = [...manifest.resolved_steps, ...manifest.resolved_closing_steps];
  const writer = await procedure.activityWriter({ ...options.writer, manifest });
  const run = new StepRunner(options, writer, log);

  /** Where the record says to go on: the interrupted step, else the first without an ok. */
  const suggested = async (): Promise<number> => (await procedure.resumePoint()).suggested_boundary;
  /** Where to go on from after an operator's resume: the boundary of the replay the state shows, else the suggestion. */
  const resumedFrom = async (current: Procedure): Promise<number> => current.replay_boundary ?? (await suggested());

  let state = await procedure.read();
  let from = await suggested();
  for (;;) {
    if (TERMINAL.has(state.status)) {
      log(`procedure ${state.status}${state.last_status_reason ? `: ${state.last_status_reason}` : ""}`);
      return state;
    }
    if (state.status !== "Running") {
      log(`procedure ${state.status}${state.last_status_reason ? ` (${state.last_status_reason})` : ""}; waiting for an operator`);
      state = await poll(procedure, clock, pollMs, (s) => s.status === "Running" || TERMINAL.has(s.status));
      if (state.status === "Running") from = await resumedFrom(state);
      continue;
    }
    log(from === 0 ? `running ${steps.length} steps` : `running from step ${from} of ${steps.length}`);
    const segment = await run.steps(steps, from, (index) => awaitGoAhead(index));
    state = await procedure.read();
    // Still Running with nobody's resume in between: go on where the record says, not from the replay's
    // boundary again (the steps done since would run twice).
    if (segment !== "done" && state.status === "Running") from = await suggested();
  }

  /** Before a replayed action or compute: wait until the operator's go-ahead takes it off the awaiting list. */
  async function awaitGoAhead(index: number): Promise<boolean> {
    let current = await procedure.read();
    if (current.replay_awaiting_operator.includes(index)) {
      await writer.flush();
      log(`step ${index} is a replayed ${steps[index]!.kind}: waiting for the operator's go-ahead`);
      current = await poll(procedure, clock, pollMs, (s) => s.status !== "Running" || !s.replay_awaiting_operator.includes(index));
    }
    return current.status === "Running";
  }
}

async function poll(procedure: ProcedureHandle, clock: Clock, pollMs: number, until: (state: Procedure) => boolean): Promise<Procedure> {
  for (;;) {
    await clock.sleep(pollMs);
    const state = await procedure.read();
    if (until(state)) return state;
  }
}

/** Executes steps on the instrument and reports them. */
class StepRunner {
  readonly #instrument: Instrument;
  readonly #clock: Clock;
  readonly #writer: ActivityWriter;
  readonly #log: (line: string) => void;
  readonly #heartbeatMs: number;
  readonly #tolerance: number;
  #heartbeats = true;

  constructor(options: GatewayOptions, writer: ActivityWriter, log: (line: string) => void) {
    this.#instrument = options.instrument;
    this.#clock = options.clock;
    this.#writer = writer;
    this.#log = log;
    this.#heartbeatMs = options.heartbeatMs ?? 10_000;
    this.#tolerance = options.verifyTolerance ?? 1e-6;
  }

  /** Steps `from` on; stops at a failed step, or when the service stops taking reports (held, ended, awaiting an operator). */
  async steps(steps: readonly Step[], from: number, mayRun: (index: number) => Promise<boolean>): Promise<Segment> {
    try {
      for (let index = from; index < steps.length; index++) {
        const step = steps[index]!;
        if ((step.kind === "action" || step.kind === "compute") && !(await mayRun(index))) return "interrupted";
        if (!(await this.#execute(index, step))) {
          await this.#writer.flush();
          return "failed";
        }
      }
      await this.#writer.flush();
      return "done";
    } catch (error) {
      // The service refused a report (the procedure was held or ended meanwhile): the caller reads the state.
      if (!isProblem(error)) throw error;
      this.#log(`report refused: ${error.message}`);
      this.#writer.reset();
      return "interrupted";
    }
  }

  /** Runs one step and reports it; false when it failed. */
  async #execute(index: number, step: Step): Promise<boolean> {
    if (step.deadline_seconds !== undefined) this.#log(`step ${index} (${step.kind}) has a deadline of ${step.deadline_seconds} s from its in_flight`);
    let outcome: Measured | Failure;
    try {
      outcome = await this.#perform(index, step);
    } catch (error) {
      if (!(error instanceof InstrumentError)) throw error;
      outcome = new Failure(error.errorClass, error.message);
    }
    if (outcome instanceof Failure) {
      this.#log(`step ${index} failed: ${outcome.errorClass}: ${outcome.message}`);
      void this.#writer.failed(index, outcome.errorClass, outcome.message, outcome.extra);
      return false;
    }
    void this.#writer.ok(index, outcome);
    return true;
  }

  /** The step's effect or reading on the instrument; what it measured goes into the `ok` report. */
  async #perform(index: number, step: Step): Promise<Measured | Failure> {
    switch (step.kind) {
      case "setpoint": {
        await this.#writer.inFlight(index);
        await this.#effect(index, (progress) => this.#instrument.set(step.address, step.value, progress));
        if (!step.verify) return {};
        const readback = await this.#instrument.read(step.address);
        return Math.abs(readback - step.value) <= this.#tolerance
          ? { readback }
          : new Failure("SetpointNotReached", `${step.address} reads ${readback}, set to ${step.value}`, { readback });
      }
      case "action":
        await this.#writer.inFlight(index);
        await this.#effect(index, (progress) => this.#instrument.act(step.name, step.params, progress));
        return {};
      case "compute":
        await this.#writer.inFlight(index);
        return this.#effect(index, (progress) => this.#instrument.compute(step.command, step.parameters, progress));
      case "check": {
        const value = await this.#instrument.read(step.address);
        const { criterion } = step;
        if (criterion.kind === "equals") {
          return value === criterion.expected ? { value } : new Failure("NotEqual", `${step.address} reads ${value}, expected ${criterion.expected}`, { value });
        }
        return Math.abs(value - criterion.expected) <= criterion.tolerance
          ? { value }
          : new Failure("OutOfTolerance", `${step.address} reads ${value}, expected ${criterion.expected} ± ${criterion.tolerance}`, { value });
      }
      case "capture":
        return this.#instrument.capture(step.address, step.capture_name);
    }
  }

  /** Runs an effect, with a heartbeat every heartbeatMs while it lasts. */
  async #effect<T>(index: number, effect: (progress: (fraction: number) => void) => Promise<T>): Promise<T> {
    let progress: number | undefined;
    let cancel: (() => void) | null = null;
    const beat = () => {
      this.#writer.heartbeat(index, progress).catch((error: unknown) => {
        // A refused heartbeat is refused alone (the writer sends it in its own batch): the step goes on without them.
        if (!isProblem(error) || !this.#heartbeats) return;
        this.#heartbeats = false;
        this.#log(`heartbeats off: the service refused one (${error.message})`);
      });
      if (this.#heartbeats) cancel = this.#clock.setTimer(this.#heartbeatMs, beat);
    };
    if (this.#heartbeatMs > 0 && this.#heartbeats) cancel = this.#clock.setTimer(this.#heartbeatMs, beat);
    try {
      return await effect((fraction) => (progress = Math.round(fraction * 1000) / 1000));
    } finally {
      (cancel as (() => void) | null)?.();
    }
  }
}

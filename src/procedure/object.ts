// ProcedureObject: one Durable Object per procedure. It serializes commands
// (every decision and its writes happen synchronously, before any await), keeps
// its events, a state snapshot and an outbox in one SQLite transaction per
// command, and feeds the D1 projection from that outbox.
import { DurableObject } from "cloudflare:workers";
import { judgeBatch, manifestOf } from "../conduct/entries";
import { awaitingOperator, boundaryError, replayPlan, requiresOperator, suggestBoundary } from "../conduct/replay";
import { payloadToStep, type Step, type StepPayload } from "../conduct/steps";
import { database } from "../db/client";
import { upsertSummary, type SummaryRow } from "../db/summaries";
import { uuidv7 } from "../ids";
import { splitPage } from "../paging";
import { decide, type ProcedureCommand } from "./decide";
import type { OnFailure, ProcedureEvent, RecordedEvent } from "./events";
import {
  knownEventIds,
  latestRecordedAt,
  markMirrored,
  okStepIndexes,
  pageEntries,
  readProgress,
  recordEntries,
  type ActivityEntry,
  type ActivityEntryInput,
  type StoredProgress,
} from "./logbook";
import { accept, refuse, type Decision } from "./refusal";
import { evolve, type ProcedureState } from "./state";
import { migrate } from "./storage";
import { procedureView, summaryRow, type ProcedureView } from "./view";

/** Who is acting, carried onto every event the command appends. */
export interface Actor {
  principal_id: string;
  correlation_id: string;
}

export interface PinnedManifest {
  resolved_steps: StepPayload[];
  resolved_closing_steps: StepPayload[];
  step_count: number;
  recorded_at: string;
}

/** The manifest as the object keeps it in memory: pinned payloads, parsed steps, and their kinds and targets. */
type PinnedSteps = { pinned: PinnedManifest; steps: Step[] } & ReturnType<typeof manifestOf>;

export interface ConductResult {
  procedure_id: string;
  step_count: number;
  succeeded: boolean;
  failure: { source_kind: "lifecycle"; target: "start"; step_index: null; error_class: string; message: string } | null;
}

export interface ReplayResult {
  procedure_id: string;
  re_establishment_boundary: number;
  replay: Array<{ step_index: number; step: StepPayload; requires_operator: boolean }>;
  completed: boolean;
}

export interface ResumePoint {
  suggested_boundary: number;
  in_flight_step_index: number | null;
  completed_count: number;
  step_count: number;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** The activity mirror in D1 is refreshed at most this often per procedure. */
export const ACTIVITY_MIRROR_INTERVAL_MS = 60_000;
/** How long a command waits on D1 before leaving the projection to the alarm. */
const PROJECTION_TIMEOUT_MS = 2_000;
const PROJECTION_RETRY_MS = [1_000, 5_000, 30_000, 120_000];
const PROJECTION_BACKSTOP_MS = 30_000;

export class ProcedureObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private state: ProcedureState | null;
  private manifest: PinnedSteps | null | undefined;
  private projectionFailures = 0;
  private delivering: Promise<void> | null = null;
  private alarmArmed = false;

  /** Where summaries go; a test may swap it to simulate a D1 outage. */
  projectSummary: (row: SummaryRow) => Promise<void>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(this.sql, ctx.storage);
    const snapshot = this.sql.exec<{ state: string }>("SELECT state FROM snapshot WHERE id = 1").toArray()[0];
    this.state = snapshot ? (JSON.parse(snapshot.state) as ProcedureState) : null;
    this.projectSummary = (row) => upsertSummary(database(env.DB), row);
    // A summary left in the outbox (the object stopped before projecting it) is
    // delivered by the alarm.
    if (this.hasOutbox()) void ctx.blockConcurrencyWhile(() => ctx.storage.setAlarm(Date.now()));
  }

  // ---- commands -----------------------------------------------------------

  /** Registers the procedure this object stands for. */
  async register(procedureId: string, input: { name: string; kind: string; target_asset_ids: string[] }, actor: Actor) {
    return this.run(procedureId, [{ type: "RegisterProcedure", ...input }], actor);
  }

  /** Runs one lifecycle command (start, hold, resume, complete, abort, truncate). */
  async command(procedureId: string, command: ProcedureCommand, actor: Actor) {
    return this.run(procedureId, [command], actor);
  }

  /** Pins the resolved steps and starts the procedure in one append; lifecycle refusals come back in the body. */
  async conduct(
    procedureId: string,
    plan: { on_failure: OnFailure; stale_after_seconds?: number | null; resolved_steps: StepPayload[]; resolved_closing_steps: StepPayload[] },
    actor: Actor,
  ): Promise<Decision<ConductResult>> {
    const step_count = plan.resolved_steps.length + plan.resolved_closing_steps.length;
    const outcome = this.execute(procedureId, [{ type: "ConductProcedure", ...plan }], actor, (now) => {
      this.sql.exec(
        "INSERT INTO manifest (id, resolved_steps, resolved_closing_steps, step_count, recorded_at) VALUES (1, ?, ?, ?, ?)",
        JSON.stringify(plan.resolved_steps),
        JSON.stringify(plan.resolved_closing_steps),
        step_count,
        now,
      );
    });
    if (!outcome.ok) {
      if (outcome.refusal.status !== 409) return outcome;
      return accept({
        procedure_id: procedureId,
        step_count,
        succeeded: false,
        failure: {
          source_kind: "lifecycle",
          target: "start",
          step_index: null,
          error_class: outcome.refusal.error_class,
          message: outcome.refusal.detail,
        },
      });
    }
    this.manifest = undefined;
    this.projectLater();
    return accept({ procedure_id: procedureId, step_count, succeeded: true, failure: null });
  }

  /** Resumes a Held conducted procedure from a boundary and answers the replay plan from the pinned list. */
  async conductFrom(procedureId: string, boundary: number, actor: Actor): Promise<Decision<ReplayResult>> {
    const state = this.state;
    if (state === null) return this.notFound(procedureId);
    if (state.status !== "Held") return refuse("ProcedureCannotResume", 409, `cannot resume a ${state.status} procedure`);
    const manifest = this.loadManifest();
    if (manifest === null) return refuse("ManifestNotFound", 409, "the procedure was started without conduct: use resume");
    const invalid = boundaryError(manifest.pinned.step_count, boundary);
    if (invalid !== null) return refuse("ReEstablishmentBoundaryInvalid", 400, invalid);
    const completes = boundary === manifest.pinned.step_count;
    const commands: ProcedureCommand[] = [{ type: "ResumeProcedure", re_establishment_boundary: boundary, cause: "operator" }];
    if (completes) commands.push({ type: "CompleteProcedure" });
    const outcome = await this.run(procedureId, commands, actor);
    if (!outcome.ok) return outcome;
    return accept({
      procedure_id: procedureId,
      re_establishment_boundary: boundary,
      replay: replayPlan(manifest.steps, boundary),
      completed: completes,
    });
  }

  /** Gives the operator's go-ahead for one action or compute step of a replay. */
  async authorizeReplayStep(procedureId: string, stepIndex: number, actor: Actor) {
    const kind = this.loadManifest()?.manifestKinds[stepIndex];
    const command: ProcedureCommand = {
      type: "AuthorizeReplayStep",
      step_index: stepIndex,
      requires_operator: kind !== undefined && requiresOperator(kind),
    };
    return this.run(procedureId, [command], actor);
  }

  /** Validates and records a gateway's batch; the batch may complete, abort or hold the procedure. */
  async appendActivities(
    procedureId: string,
    entries: ActivityEntryInput[],
    actor: Actor,
  ): Promise<Decision<{ event_count: number; duplicate_count: number }>> {
    const state = this.state;
    if (state === null) return this.notFound(procedureId);
    // Duplicates first: a gateway retrying the batch that ended the procedure
    // is told it was recorded, not that the logbook is closed.
    const seen = knownEventIds(this.sql, entries.map((e) => e.event_id));
    const fresh: ActivityEntryInput[] = [];
    const positions: number[] = [];
    entries.forEach((entry, position) => {
      if (seen.has(entry.event_id)) return;
      seen.add(entry.event_id);
      fresh.push(entry);
      positions.push(position);
    });
    const duplicate_count = entries.length - fresh.length;
    if (fresh.length === 0) return accept({ event_count: 0, duplicate_count });
    if (state.status !== "Running") {
      return refuse("ProcedureStepsLogbookClosed", 409, `a ${state.status} procedure accepts no activity`);
    }

    const manifest = this.loadManifest();
    const judged = judgeBatch(
      {
        manifestKinds: manifest?.manifestKinds ?? null,
        manifestTargets: manifest?.manifestTargets,
        on_failure: state.on_failure,
        replay: state.replay ? { boundary: state.replay.boundary, approved: state.replay.authorized } : null,
        stepCount: state.step_count ?? 0,
      },
      fresh,
      positions,
    );
    if (!judged.ok) {
      const status = judged.error_class === "AcquisitionResumeRequiresOperator" ? 409 : 422;
      return refuse(judged.error_class, status, judged.detail);
    }
    const commands: ProcedureCommand[] = [];
    if (state.activity_logbook_id === null) commands.push({ type: "OpenActivitiesLogbook", logbook_id: uuidv7() });
    const outcome = judged.outcome;
    if (outcome?.type === "complete") commands.push({ type: "CompleteProcedure" });
    if (outcome?.type === "abort") commands.push({ type: "AbortProcedure", reason: outcome.reason });
    if (outcome?.type === "hold") commands.push({ type: "HoldProcedure", reason: outcome.reason, cause: outcome.cause });

    const result = this.execute(procedureId, commands, actor, (now) =>
      recordEntries(this.sql, fresh, judged.steps, now, actor.principal_id),
    );
    if (!result.ok) return result;
    this.projectLater();
    return accept({ event_count: fresh.length, duplicate_count });
  }

  // ---- reads --------------------------------------------------------------

  /** The procedure's current state, from its own storage. */
  async read(procedureId: string): Promise<Decision<ProcedureView>> {
    return this.state === null ? this.notFound(procedureId) : accept(this.view(this.state));
  }

  /** A page of the event log in version order, after `after`. */
  async events(procedureId: string, after: number, limit: number): Promise<Decision<Page<RecordedEvent>>> {
    if (this.state === null) return this.notFound(procedureId);
    const rows = this.sql
      .exec<{ version: number; event_id: string; type: string; payload: string; occurred_at: string; principal_id: string; correlation_id: string }>(
        "SELECT * FROM events WHERE version > ? ORDER BY version LIMIT ?",
        after,
        limit + 1,
      )
      .toArray();
    const page = splitPage(rows, limit, (r) => String(r.version));
    const items = page.rows.map((r) => ({ ...r, payload: JSON.parse(r.payload) }) as RecordedEvent);
    return accept({ items, next_cursor: page.next });
  }

  /** The pinned step list; refused before conduct. */
  async readManifest(procedureId: string): Promise<Decision<PinnedManifest>> {
    if (this.state === null) return this.notFound(procedureId);
    const manifest = this.loadManifest();
    return manifest ? accept(manifest.pinned) : refuse("ManifestNotFound", 404, "the procedure has no pinned manifest");
  }

  /** Where a resume should start: the interrupted step, else the first without an ok. */
  async resumePoint(procedureId: string): Promise<Decision<ResumePoint>> {
    if (this.state === null) return this.notFound(procedureId);
    const manifest = this.loadManifest();
    if (!manifest) return refuse("ManifestNotFound", 404, "the procedure has no pinned manifest");
    const progress = readProgress(this.sql);
    const stepCount = manifest.pinned.step_count;
    return accept({
      suggested_boundary: suggestBoundary({ stepCount, inFlightStepIndex: progress.in_flight_step_index, okIndexes: okStepIndexes(this.sql) }),
      in_flight_step_index: progress.in_flight_step_index,
      completed_count: progress.completed_count,
      step_count: stepCount,
    });
  }

  /** A page of the logbook, newest first. */
  async activities(procedureId: string, cursor: number | null, limit: number): Promise<Decision<Page<ActivityEntry>>> {
    if (this.state === null) return this.notFound(procedureId);
    const page = pageEntries(this.sql, cursor, limit);
    return accept({ items: page.items, next_cursor: page.next === null ? null : String(page.next) });
  }

  /**
   * What the watcher's fold reads: the latest recorded_at in the logbook, and
   * the status, so a projection that lags a transition never gets a procedure
   * flagged that is no longer running.
   */
  async watchReading(): Promise<{ status: ProcedureState["status"] | null; latest_recorded_at: string | null }> {
    return { status: this.state?.status ?? null, latest_recorded_at: latestRecordedAt(this.sql) };
  }

  // ---- projection ---------------------------------------------------------

  override async alarm(): Promise<void> {
    this.alarmArmed = false;
    await this.project();
  }

  /**
   * A backstop for the delivery after the reply: if the object stops before
   * it, the alarm delivers. Armed at most once per alarm period.
   */
  private armBackstop(): void {
    if (this.alarmArmed) return;
    this.alarmArmed = true;
    void this.ctx.storage.setAlarm(Date.now() + PROJECTION_BACKSTOP_MS);
  }

  private hasOutbox(): boolean {
    return this.sql.exec("SELECT 1 FROM outbox LIMIT 1").toArray().length > 0;
  }

  /**
   * Delivers what the outbox holds to D1 and resolves once the projection has
   * caught up with every command answered before the call (or the delivery
   * failed and the alarm owns the retry). Deliveries run one at a time.
   */
  async project(): Promise<void> {
    while (this.delivering) await this.delivering;
    if (!this.hasOutbox()) return;
    this.delivering = this.deliver().finally(() => {
      this.delivering = null;
    });
    await this.delivering;
  }

  /** The reply does not wait for D1: a slow or failing D1 never holds a command up. */
  private projectLater(): void {
    this.ctx.waitUntil(this.project());
  }

  /**
   * Sends the newest outbox summary and clears what it supersedes. Writes are
   * monotonic in version, so a repeated or overlapping delivery is harmless; a
   * failure leaves the outbox for the alarm to retry.
   */
  private async deliver(): Promise<void> {
    const latest = this.sql.exec<{ id: number; summary: string }>("SELECT id, summary FROM outbox ORDER BY id DESC LIMIT 1").toArray()[0];
    if (!latest) return;
    try {
      await withTimeout(this.projectSummary(JSON.parse(latest.summary) as SummaryRow), PROJECTION_TIMEOUT_MS);
      this.sql.exec("DELETE FROM outbox WHERE id <= ?", latest.id);
      this.projectionFailures = 0;
    } catch (error) {
      const delay = PROJECTION_RETRY_MS[Math.min(this.projectionFailures, PROJECTION_RETRY_MS.length - 1)]!;
      this.projectionFailures += 1;
      console.warn(JSON.stringify({ msg: "projection deferred", procedure_id: this.state?.procedure_id, retry_in_ms: delay, error: String(error) }));
      this.alarmArmed = true;
      await this.ctx.storage.setAlarm(Date.now() + delay);
    }
  }

  // ---- internals ----------------------------------------------------------

  private async run(procedureId: string, commands: ProcedureCommand[], actor: Actor): Promise<Decision<ProcedureView>> {
    const outcome = this.execute(procedureId, commands, actor);
    if (!outcome.ok) return outcome;
    this.projectLater();
    return accept(this.view(outcome.value.state, outcome.value.progress));
  }

  /**
   * Decides every command against the state the previous one left, then writes
   * all events, the snapshot, `extra` writes and the outbox row in one
   * transaction. Nothing is written when any command is refused.
   */
  private execute(
    procedureId: string,
    commands: readonly ProcedureCommand[],
    actor: Actor,
    extra?: (now: string) => void,
  ): Decision<{ state: ProcedureState; progress: StoredProgress }> {
    const now = new Date().toISOString();
    let next = this.state;
    const events: ProcedureEvent[] = [];
    for (const command of commands) {
      const decision = decide(next, command, { procedure_id: procedureId, now });
      if (!decision.ok) return decision;
      for (const event of decision.value) {
        next = evolve(next, event);
        events.push(event);
      }
    }
    if (next === null) return this.notFound(procedureId);
    const state = next;
    const firstVersion = state.version - events.length + 1;
    const progress = this.ctx.storage.transactionSync(() => {
      events.forEach((event, i) => {
        this.sql.exec(
          "INSERT INTO events (version, event_id, type, payload, occurred_at, principal_id, correlation_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
          firstVersion + i,
          uuidv7(),
          event.type,
          JSON.stringify(event.payload),
          event.payload.occurred_at,
          actor.principal_id,
          actor.correlation_id,
        );
      });
      if (events.length > 0) this.sql.exec("INSERT OR REPLACE INTO snapshot (id, state) VALUES (1, ?)", JSON.stringify(state));
      extra?.(now);
      const after = readProgress(this.sql);
      if (this.enqueueSummary(state, after, events.length > 0, now)) this.armBackstop();
      return after;
    });
    this.state = state;
    return accept({ state, progress });
  }

  /**
   * Queues the projection row when the state changed, or when the activity
   * mirror is due: the mirror only ever carries a recorded_at the logbook holds,
   * so it may lag the truth but never leads it.
   */
  private enqueueSummary(state: ProcedureState, progress: StoredProgress, changed: boolean, now: string): boolean {
    const mirrorDue =
      progress.last_activity_at !== null &&
      progress.last_activity_at !== progress.mirrored_activity_at &&
      (progress.mirrored_activity_at === null ||
        Date.parse(progress.last_activity_at) - Date.parse(progress.mirrored_activity_at) >= ACTIVITY_MIRROR_INTERVAL_MS);
    if (!changed && !mirrorDue) return false;
    this.sql.exec("INSERT INTO outbox (summary) VALUES (?)", JSON.stringify(summaryRow(state, progress.last_activity_at, now)));
    markMirrored(this.sql, progress.last_activity_at);
    return true;
  }

  /** The pinned manifest, parsed once: it never changes after conduct. */
  private loadManifest(): PinnedSteps | null {
    if (this.manifest !== undefined) return this.manifest;
    const row = this.sql
      .exec<{ resolved_steps: string; resolved_closing_steps: string; step_count: number; recorded_at: string }>(
        "SELECT resolved_steps, resolved_closing_steps, step_count, recorded_at FROM manifest WHERE id = 1",
      )
      .toArray()[0];
    if (!row) return (this.manifest = null);
    const pinned: PinnedManifest = {
      resolved_steps: JSON.parse(row.resolved_steps),
      resolved_closing_steps: JSON.parse(row.resolved_closing_steps),
      step_count: row.step_count,
      recorded_at: row.recorded_at,
    };
    const steps = [...pinned.resolved_steps, ...pinned.resolved_closing_steps].map(payloadToStep);
    return (this.manifest = { pinned, steps, ...manifestOf(steps) });
  }

  private view(state: ProcedureState, progress: StoredProgress = readProgress(this.sql)): ProcedureView {
    const kinds = this.loadManifest()?.manifestKinds ?? [];
    const replay = state.status === "Running" ? state.replay : null;
    const awaiting = replay ? awaitingOperator({ boundary: replay.boundary, approved: replay.authorized }, kinds) : [];
    return procedureView(state, progress, awaiting);
  }

  private notFound(procedureId: string): Decision<never> {
    return refuse("ProcedureNotFound", 404, `procedure ${procedureId} does not exist`);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    if (timer !== null) clearTimeout(timer);
  });
}

// ProcedureObject: one Durable Object per procedure, a thin shell around the
// pure core. Each command loads the state (kept in memory), decides (pure),
// writes events, snapshot and the projection job in one transaction before any
// await, and then does its after-commit work (the alarm, the delivery timer).
// The object knows which procedure it is from its own id, never from an argument.
import { DurableObject } from "cloudflare:workers";
import { inScope } from "../auth/grants";
import { manifestOf } from "../conduct/entries";
import { awaitingOperator, replayPlan, suggestBoundary } from "../conduct/replay";
import { payloadToStep, type Step } from "../conduct/steps";
import { database } from "../db/client";
import { markSummaryArchived, upsertSummary, type SummaryRow } from "../db/summaries";
import { config } from "../env";
import { archiveDue, archiveKey } from "../retention/policy";
import { uuidv7 } from "../ids";
import { enqueueNotifications, type NotifyMessage } from "../notify/delivery";
import { failedStep, notificationsOf, type Notification, type StepFailure } from "../notify/events";
import { NOTIFY_BACKSTOP_MS, NOTIFY_JOB, recordNotifications, retryAt, sendPending } from "../notify/outbox";
import { activePrincipalById } from "../auth/principals";
import { LiveFeed } from "../live/hub";
import { parseStreamId } from "../live/position";
import { issueTicket, redeemTicket, type StreamTicket } from "../live/tickets";
import { AFTER_HEADER, PRINCIPAL_HEADER, refusalResponse, type Watcher } from "../live/wire";
import { decideActivities, decideGoAhead, type ManifestShape } from "./activity";
import type {
  Access,
  Actor,
  AppendResult,
  ConductPlan,
  Conducted,
  Page,
  PinnedManifest,
  RegisterInput,
  ReplayResult,
  ResumePoint,
  WatchReading,
} from "./contract";
import { decideAll, decideConductFrom, notFound, type DecideContext, type ProcedureCommand } from "./decide";
import type { ProcedureEvent, RecordedEvent } from "./events";
import {
  knownEventIds,
  MAX_PAGE_BYTES,
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
import { archivedActivities, archivedEvents, archivedManifest, archiveLines, ARCHIVE_JOB, verifyArchive, writeArchive, type Tombstone } from "./archive";
import { exportLines, exportPage, type ExportCursor, type ExportPage } from "./export";
import { deliverSummary, mirrorDue, PROJECTION_BACKSTOP_MS, PROJECTION_DELAY_MS, PROJECTION_JOB } from "./projection";
import { accept, refuse, type Decision, type Refusal } from "./refusal";
import { nextDueAt, pendingJob, requestJob, Scheduler, settleJob, systemClock, type Clock } from "./schedule";
import type { ProcedureState } from "./state";
import {
  appendEvents,
  appliedMigrations,
  eventsAfter,
  isCurrent,
  loadManifest,
  loadSnapshot,
  loadTombstone,
  migrate,
  pinManifest,
  releaseToTombstone,
} from "./storage";
import { procedureView, summaryRow, type ProcedureView } from "./view";

const TERMINAL: ReadonlySet<ProcedureState["status"]> = new Set(["Completed", "Aborted", "Truncated"]);

/** The steps of archiving after which a test may stop it (a crash there). */
export type ArchiveStep = "written" | "verified" | "released";

/** The manifest as the object keeps it in memory: pinned payloads, parsed steps, and their kinds and targets. */
type PinnedSteps = { pinned: PinnedManifest; steps: Step[] } & ManifestShape;

export class ProcedureObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** False until registration creates the schema: an unregistered object has written nothing. */
  private hasSchema: boolean;
  private state: ProcedureState | null = null;
  /** Set once the procedure is archived: its record is in the ARCHIVE bucket, and `state` is its last state. */
  private archived: Tombstone | null = null;
  private progress: StoredProgress | null = null;
  private manifest: PinnedSteps | null | undefined;
  private delivering: Promise<void> | null = null;
  /** The delivery timer now pending; any delivery voids it, so a stale timer never runs one out of turn. */
  private timer: object | null = null;
  private notifying: Promise<void> | null = null;
  /** The object's timed work: the projection, the notification send and the stream check, each on its own. */
  private readonly schedule: Scheduler;
  /** The procedure's watchers (SSE and hibernatable WebSockets) and the broadcast after each commit. */
  readonly live: LiveFeed;

  /** Where summaries go; a test may swap it to simulate a D1 outage. */
  projectSummary: (row: SummaryRow) => Promise<void>;
  /** Where committed notifications go; a test may swap it to capture them or simulate a queue outage. */
  sendNotifications: (batch: Notification[]) => Promise<void>;
  /** Whether a watcher's principal may keep its stream open (D1); a test may swap it to simulate an outage. */
  principalIsActive: (principalId: string) => Promise<boolean>;
  /** Where an archive's completion goes (the projection row's archived_at); a test may swap it to simulate a D1 outage. */
  markArchived: (procedureId: string, archivedAt: string) => Promise<void>;
  /** Called after each step of archiving; a test throws from it to stop the archive there, as a crash would. */
  archiveCheckpoint: (step: ArchiveStep) => void | Promise<void> = () => {};
  /** Every time the object stamps, every due time it computes and its own timers; a test may set it. */
  clock: Clock = systemClock;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.projectSummary = (row) => upsertSummary(database(env.DB), row);
    this.sendNotifications = (batch) => enqueueNotifications(env.NOTIFICATIONS as Queue<NotifyMessage>, batch);
    this.markArchived = (id, at) => markSummaryArchived(database(env.DB), id, at);
    this.principalIsActive = async (id) => (await activePrincipalById(database(env.DB), id, this.clock.now())) !== null;
    const clock: Clock = { now: () => this.clock.now(), sleep: (ms) => this.clock.sleep(ms) };
    this.live = new LiveFeed(ctx, {
      clock,
      current: () => this.state && { view: this.view(this.state), version: this.state.version, terminal: TERMINAL.has(this.state.status) },
      armAlarm: () => this.armAlarm(),
      isActive: (id) => this.principalIsActive(id),
    });
    this.schedule = new Scheduler(
      ctx.storage,
      clock,
      {
        projection: { run: () => this.runProjection() },
        notify: { run: () => this.runNotify() },
        "stream-check": this.live.checkJob,
        archive: { run: () => this.runArchive() },
      },
      () => ({ procedure_id: this.procedureId() }),
    );
    // Answered by the runtime without waking the object, so an idle watcher's pings cost nothing.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    const applied = appliedMigrations(this.sql);
    this.hasSchema = applied > 0;
    if (!this.hasSchema) return;
    if (!isCurrent(applied)) migrate(ctx.storage, applied);
    this.archived = loadTombstone(this.sql);
    this.state = this.archived?.state ?? loadSnapshot(this.sql);
    if (nextDueAt(this.sql) !== null) void ctx.blockConcurrencyWhile(() => this.schedule.resume());
  }

  // ---- commands -----------------------------------------------------------

  /** Registers the procedure this object stands for; `procedureId` must be that procedure. */
  async register(procedureId: string, input: RegisterInput, actor: Actor): Promise<Decision<ProcedureView>> {
    const own = this.ctx.id.name;
    if (procedureId !== own) return refuse("ProcedureIdMismatch", `this object stands for procedure ${own ?? "(unnamed)"}, not ${procedureId}`);
    const hidden = this.outOfScope(actor);
    if (hidden) return hidden;
    return this.run([{ type: "RegisterProcedure", ...input }], actor);
  }

  /** Runs one lifecycle command (start, hold, resume, complete, abort, truncate). */
  async command(command: ProcedureCommand, actor: Actor): Promise<Decision<ProcedureView>> {
    const hidden = this.writable(actor);
    if (hidden) return hidden;
    return this.run([command], actor);
  }

  /** Pins the resolved steps and starts the procedure in one append. */
  async conduct(plan: ConductPlan, actor: Actor): Promise<Decision<Conducted>> {
    const hidden = this.writable(actor);
    if (hidden) return hidden;
    const ctx = this.context();
    const decided = decideAll(this.state, [{ type: "ConductProcedure", ...plan }], ctx);
    if (!decided.ok) return decided;
    await this.commit(decided.value, actor, () => pinManifest(this.sql, plan, ctx.now));
    this.manifest = undefined;
    return accept({ procedure_id: decided.value.state.procedure_id, step_count: decided.value.state.step_count ?? 0 });
  }

  /** Resumes a Held conducted procedure from a boundary and answers the replay plan from the pinned list. */
  async conductFrom(boundary: number, actor: Actor): Promise<Decision<ReplayResult>> {
    const hidden = this.writable(actor);
    if (hidden) return hidden;
    const decided = decideConductFrom(this.state, boundary, this.context());
    if (!decided.ok) return decided;
    await this.commit(decided.value, actor);
    const { state } = decided.value;
    return accept({
      procedure_id: state.procedure_id,
      re_establishment_boundary: boundary,
      replay: replayPlan(this.loadManifest()?.steps ?? [], boundary),
      completed: state.status === "Completed",
    });
  }

  /** Gives the operator's go-ahead for one action or compute step of a replay. */
  async authorizeReplayStep(stepIndex: number, actor: Actor): Promise<Decision<ProcedureView>> {
    const hidden = this.writable(actor);
    if (hidden) return hidden;
    const decided = decideGoAhead(this.state, this.loadManifest(), stepIndex, this.context());
    if (!decided.ok) return decided;
    await this.commit(decided.value, actor);
    return accept(this.view(decided.value.state));
  }

  /** Validates and records a gateway's batch; the batch may complete, abort or hold the procedure. */
  async appendActivities(entries: ActivityEntryInput[], actor: Actor): Promise<Decision<AppendResult>> {
    const hidden = this.writable(actor);
    if (hidden) return hidden;
    const reached = this.reachable(actor);
    if (!reached.ok) return reached;
    const state = reached.value;
    const ctx = this.context();
    const known = knownEventIds(this.sql, entries.map((e) => e.event_id));
    const decided = decideActivities(state, this.loadManifest(), entries, known, { ...ctx, logbook_id: uuidv7() });
    if (!decided.ok) return decided;
    const { fresh, steps, duplicate_count } = decided.value;
    const atVersion = state.version;
    if (fresh.length > 0) {
      await this.commit(decided.value, actor, () => recordEntries(this.sql, fresh, steps, ctx.now, actor.principal_id, atVersion), failedStep(fresh));
    }
    return accept({ event_count: fresh.length, duplicate_count });
  }

  // ---- reads --------------------------------------------------------------

  /** The procedure's current state, from its own storage. */
  async read(access: Access): Promise<Decision<ProcedureView>> {
    const reached = this.reachable(access);
    if (!reached.ok) return reached;
    return accept(this.archived ? this.archivedView(this.archived) : this.view(reached.value));
  }

  /** A page of the event log in version order, after `after`. */
  async events(after: number, limit: number, access: Access): Promise<Decision<Page<RecordedEvent>>> {
    const reached = this.reachable(access);
    if (!reached.ok) return reached;
    if (this.archived) {
      const page = await archivedEvents(this.archiveFile(this.archived), after, limit);
      return accept({ items: page.items as unknown as RecordedEvent[], next_cursor: page.next });
    }
    const page = eventsAfter(this.sql, after, limit);
    return accept({ items: page.items, next_cursor: page.next });
  }

  /** The pinned step list; refused before conduct. */
  async readManifest(access: Access): Promise<Decision<PinnedManifest>> {
    const reached = this.reachable(access);
    if (!reached.ok) return reached;
    const manifest = this.archived ? ((await archivedManifest(this.archiveFile(this.archived))) as PinnedManifest | null) : (this.loadManifest()?.pinned ?? null);
    return manifest ? accept(manifest) : refuse("ManifestNotFound", "the procedure has no pinned manifest");
  }

  /** Where a resume should start: the interrupted step, else the first without an ok. */
  async resumePoint(access: Access): Promise<Decision<ResumePoint>> {
    const reached = this.reachable(access);
    if (!reached.ok) return reached;
    const point = this.archived ? this.archived.resume_point : this.currentResumePoint();
    return point ? accept(point) : refuse("ManifestNotFound", "the procedure has no pinned manifest");
  }

  private currentResumePoint(): ResumePoint | null {
    const manifest = this.loadManifest();
    if (!manifest) return null;
    const progress = this.currentProgress();
    const stepCount = manifest.pinned.step_count;
    return {
      suggested_boundary: suggestBoundary({ stepCount, inFlightStepIndex: progress.in_flight_step_index, okIndexes: okStepIndexes(this.sql) }),
      in_flight_step_index: progress.in_flight_step_index,
      completed_count: progress.completed_count,
      step_count: stepCount,
    };
  }

  /** A page of the logbook, newest first. */
  async activities(cursor: number | null, limit: number, access: Access): Promise<Decision<Page<ActivityEntry>>> {
    const reached = this.reachable(access);
    if (!reached.ok) return reached;
    if (this.archived) {
      const page = await archivedActivities(this.archiveFile(this.archived), cursor, limit, MAX_PAGE_BYTES);
      return accept({ items: page.items as unknown as ActivityEntry[], next_cursor: page.next });
    }
    const page = pageEntries(this.sql, cursor, limit);
    return accept({ items: page.items, next_cursor: page.next === null ? null : String(page.next) });
  }

  /**
   * One page of the procedure's export (JSON Lines): the first, with a null
   * cursor, starts with the state and fixes where the record ends.
   */
  async exportPage(cursor: ExportCursor | null, access: Access): Promise<Decision<ExportPage>> {
    const reached = this.reachable(access);
    if (!reached.ok) return reached;
    if (this.archived) {
      return accept({ lines: [JSON.stringify({ record: "state", ...this.archivedView(this.archived) })], next: null, archive_key: this.archived.archive_key });
    }
    return accept(exportPage(this.exportSource(reached.value), cursor));
  }

  /**
   * Asked by the Cron Trigger at its tick's time `nowMs`: schedules this
   * procedure's archive when its own record says it finished longer than
   * ARCHIVE_AFTER_SECONDS before. True once the archive is scheduled (kept in
   * the schedule, so it survives anything) or done; false when not due.
   */
  async requestArchive(nowMs: number): Promise<boolean> {
    if (this.state === null) return false;
    if (this.archived) return true;
    if (!archiveDue(this.state.status, this.state.last_status_changed_at, nowMs, config(this.env).retention)) return false;
    requestJob(this.sql, ARCHIVE_JOB, "archive", this.clock.now());
    await this.armAlarm();
    return true;
  }

  /**
   * What the watcher's fold reads: the latest recorded_at in the logbook, and
   * the status, so a projection that lags a transition never gets a procedure
   * flagged that is no longer running.
   */
  async watchReading(): Promise<WatchReading> {
    if (this.state === null) return { status: null, latest_recorded_at: null };
    if (this.archived) return { status: this.state.status, latest_recorded_at: this.archived.view.last_activity_at };
    return { status: this.state.status, latest_recorded_at: latestRecordedAt(this.sql) };
  }

  // ---- live progress --------------------------------------------------------

  /**
   * The object's one HTTP entry: a stream of the procedure (SSE, or a WebSocket
   * on upgrade). Commands and reads are RPC; a stream is a long-lived response
   * RPC cannot return, and the WebSocket Hibernation API accepts sockets only
   * here. The Worker authorizes first and names the watcher in a header.
   */
  override async fetch(request: Request): Promise<Response> {
    const watcher = JSON.parse(request.headers.get(PRINCIPAL_HEADER) ?? "null") as Watcher | null;
    if (!watcher) return new Response("streams are opened through the Worker", { status: 400 });
    const reached = this.reachable(watcher);
    if (!reached.ok) return refusalResponse(reached.refusal);
    if (this.archived) return refusalResponse(this.archivedRefusal());
    const afterText = request.headers.get(AFTER_HEADER);
    const opened = await this.live.open(request, watcher.principal_id, afterText ? parseStreamId(afterText) : null);
    return opened instanceof Response ? opened : refusalResponse(opened);
  }

  /** A short-lived, single-use ticket that opens one stream of this procedure as `principalId`. */
  async issueStreamTicket(principalId: string, access: Access): Promise<Decision<StreamTicket>> {
    const reached = this.reachable(access);
    if (!reached.ok) return reached;
    if (this.archived) return { ok: false, refusal: this.archivedRefusal() };
    return accept(await issueTicket(this.sql, principalId, this.clock.now()));
  }

  /** Spends a ticket: the principal it was issued to. */
  async redeemStreamTicket(ticket: string): Promise<Decision<{ principal_id: string }>> {
    if (this.state === null) return this.notFound();
    const principalId = await redeemTicket(this.sql, ticket, this.clock.now());
    return principalId ? accept({ principal_id: principalId }) : refuse("Unauthenticated", "the stream ticket is unknown, spent or expired");
  }

  /** Watchers only listen; anything they send (other than the automatic ping) is ignored. */
  override webSocketMessage(): void {}

  override webSocketClose(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // already closed
    }
  }

  override webSocketError(): void {}

  // ---- timed work -----------------------------------------------------------

  /** Runs every job that is due, each on its own, then re-arms the alarm for the earliest one left. */
  override async alarm(): Promise<void> {
    if (this.state === null) return;
    await this.schedule.runDue();
  }

  /**
   * Delivers the projection now if a delivery is pending, whatever its due
   * time, and resolves once it succeeded or its retry is scheduled.
   */
  async project(): Promise<void> {
    if (this.state === null) return;
    await this.runProjection();
    await this.armAlarm();
  }

  /** Hands every committed notification to the queue now, and resolves once sent or its retry is scheduled. */
  async notify(): Promise<void> {
    if (this.state === null) return;
    await this.runNotify();
    await this.armAlarm();
  }

  /** One send at a time, so a notification is never handed over twice by the object itself. */
  private async runNotify(): Promise<void> {
    while (this.notifying) await this.notifying;
    this.notifying = (async () => {
      // A commit during a send asks for the job again; its notifications go in the next round.
      for (let job = pendingJob(this.sql, NOTIFY_JOB); job !== null; job = pendingJob(this.sql, NOTIFY_JOB)) {
        try {
          await sendPending(this.sql, this.sendNotifications);
          settleJob(this.sql, job, { ok: true }, this.clock.now() + NOTIFY_BACKSTOP_MS);
        } catch (error) {
          const retry_at = retryAt(job.attempts, this.clock.now());
          console.warn(JSON.stringify({ msg: "notifications deferred", procedure_id: this.procedureId(), attempts: job.attempts + 1, error: String(error) }));
          settleJob(this.sql, job, { ok: false, retry_at }, retry_at);
          return;
        }
      }
    })().finally(() => {
      this.notifying = null;
    });
    await this.notifying;
  }

  /** Deliveries run one at a time: a repeated or overlapping one would be harmless (monotonic in version) but wasted. */
  private async runProjection(): Promise<void> {
    while (this.delivering) await this.delivering;
    if (this.state === null) return;
    const job = pendingJob(this.sql, PROJECTION_JOB);
    if (!job) return;
    this.timer = null;
    this.delivering = (async () => {
      const now = this.clock.now();
      const row = summaryRow(this.state!, this.currentProgress().mirrored_activity_at, new Date(now).toISOString());
      const outcome = await deliverSummary(this.projectSummary, row, job.attempts, now);
      settleJob(this.sql, job, outcome, this.clock.now() + PROJECTION_DELAY_MS);
    })().finally(() => {
      this.delivering = null;
    });
    await this.delivering;
  }

  /**
   * The archive job: write the export to the ARCHIVE bucket, read it back and
   * check it, then replace the live storage with the tombstone (one
   * transaction), then mark the projection. Each step leaves a whole record:
   * a run that stops before the release left the live record and runs again
   * from the start (the file is overwritten); one that stops after it only
   * marks the projection. A throw is retried by the scheduler with backoff.
   */
  private async runArchive(): Promise<void> {
    const state = this.state;
    if (state === null) return;
    if (!this.archived) {
      if (!TERMINAL.has(state.status)) return;
      // What the record still owes the list and the webhooks goes out first.
      if (pendingJob(this.sql, PROJECTION_JOB)) await this.runProjection();
      if (pendingJob(this.sql, NOTIFY_JOB)) await this.runNotify();
      if (pendingJob(this.sql, PROJECTION_JOB) || pendingJob(this.sql, NOTIFY_JOB)) throw new Error("the projection or a notification is still pending");
      const bucket = this.env.ARCHIVE;
      const key = archiveKey(state.procedure_id, state.registered_at);
      const view = this.view(state);
      const digest = await writeArchive(bucket, key, () => exportLines((cursor) => exportPage(this.exportSource(state), cursor)));
      await this.archiveCheckpoint("written");
      await verifyArchive(bucket, key, digest);
      await this.archiveCheckpoint("verified");
      const tombstone: Tombstone = {
        archive_key: key,
        archived_at: new Date(this.clock.now()).toISOString(),
        ...digest,
        state,
        view,
        resume_point: this.currentResumePoint(),
      };
      releaseToTombstone(this.ctx.storage, tombstone, ARCHIVE_JOB);
      this.archived = tombstone;
      this.progress = null;
      this.manifest = null;
      await this.archiveCheckpoint("released");
    }
    await this.markArchived(state.procedure_id, this.archived.archived_at);
  }

  /** Makes sure an alarm fires by `grace` after the earliest due job (the scheduler keeps an earlier one). */
  private armAlarm(grace = 0): Promise<void> {
    return this.schedule.arm(grace);
  }

  /** The delivery a command asked for, on the object's own timer; the alarm is its backstop. */
  private deliverSoon(): void {
    const timer = {};
    this.timer = timer;
    void this.clock
      .sleep(PROJECTION_DELAY_MS)
      .then(() => (this.timer === timer ? this.project() : undefined))
      .catch((error: unknown) => console.error(JSON.stringify({ msg: "projection failed", procedure_id: this.procedureId(), error: String(error) })));
  }

  // ---- internals ----------------------------------------------------------

  private context(): DecideContext {
    return { procedure_id: this.procedureId(), now: new Date(this.clock.now()).toISOString() };
  }

  private procedureId(): string {
    return this.state?.procedure_id ?? this.ctx.id.name ?? this.ctx.id.toString();
  }

  private async run(commands: ProcedureCommand[], actor: Actor): Promise<Decision<ProcedureView>> {
    const decided = decideAll(this.state, commands, this.context());
    if (!decided.ok) return decided;
    await this.commit(decided.value, actor);
    return accept(this.view(decided.value.state));
  }

  /**
   * Writes what was decided in one transaction: the events and snapshot, the
   * `record` writes (logbook entries), and the projection job when the state
   * changed or the activity mirror is due. Arms the alarm after the commit when
   * the job is new.
   */
  private async commit(
    decided: { events: readonly ProcedureEvent[]; state: ProcedureState },
    actor: Actor,
    record?: () => void,
    failure: StepFailure | null = null,
  ): Promise<void> {
    if (!this.hasSchema) migrate(this.ctx.storage, 0);
    this.hasSchema = true;
    const { events, state } = decided;
    const dueAt = this.clock.now() + PROJECTION_DELAY_MS;
    const notifications = notificationsOf(this.state, events, failure);
    const { progress, armed, notified } = this.ctx.storage.transactionSync(() => {
      appendEvents(this.sql, events, state, actor);
      const notified = recordNotifications(this.sql, notifications) && requestJob(this.sql, NOTIFY_JOB, "notify", dueAt);
      record?.();
      let progress = record ? readProgress(this.sql) : this.progress;
      const mirror = progress !== null && mirrorDue(progress);
      if (mirror) {
        markMirrored(this.sql, progress!.last_activity_at);
        progress = { ...progress!, mirrored_activity_at: progress!.last_activity_at };
      }
      const armed = (events.length > 0 || mirror) && requestJob(this.sql, PROJECTION_JOB, "projection", dueAt);
      return { progress, armed, notified };
    });
    this.state = state;
    this.progress = progress;
    this.live.committed();
    if (notified) {
      // Sent right away below; the alarm only for an object that stops first.
      await this.armAlarm(NOTIFY_BACKSTOP_MS);
      void this.runNotify().catch((error: unknown) => console.error(JSON.stringify({ msg: "notify failed", procedure_id: this.procedureId(), error: String(error) })));
    }
    if (!armed) return;
    await this.armAlarm(PROJECTION_BACKSTOP_MS);
    this.deliverSoon();
  }

  private exportSource(state: ProcedureState) {
    return { sql: this.sql, view: this.view(state), manifest: () => this.loadManifest()?.pinned ?? null };
  }

  /** The archived state as reads answer it: the last state, with when it was archived. */
  private archivedView(tombstone: Tombstone): ProcedureView {
    return { ...tombstone.view, archived_at: tombstone.archived_at };
  }

  /** The archive's lines, read from the bucket as they are consumed. */
  private archiveFile(tombstone: Tombstone): AsyncIterable<string> {
    return archiveLines(this.env.ARCHIVE, tombstone.archive_key);
  }

  private archivedRefusal(): Refusal {
    return { error_class: "ProcedureArchived", detail: `procedure ${this.procedureId()} is archived: its reads and export answer from the archive, and it takes no command` };
  }

  /** The checks before any write: in the caller's scope (else not found), then not archived. */
  private writable(access: Access): Decision<never> | null {
    return this.outOfScope(access) ?? (this.archived ? { ok: false, refusal: this.archivedRefusal() } : null);
  }

  private currentProgress(): StoredProgress {
    return (this.progress ??= readProgress(this.sql));
  }

  /** The pinned manifest, parsed once: it never changes after conduct. */
  private loadManifest(): PinnedSteps | null {
    if (this.manifest !== undefined) return this.manifest;
    const pinned = this.hasSchema ? loadManifest(this.sql) : null;
    if (pinned === null) return (this.manifest = null);
    const steps = [...pinned.resolved_steps, ...pinned.resolved_closing_steps].map(payloadToStep);
    return (this.manifest = { pinned, steps, ...manifestOf(steps) });
  }

  private view(state: ProcedureState): ProcedureView {
    // An archived procedure's progress and manifest are in its file, not its storage.
    if (this.archived) return this.archivedView(this.archived);
    const replay = state.status === "Running" ? state.replay : null;
    const kinds = replay ? (this.loadManifest()?.manifestKinds ?? []) : [];
    const awaiting = replay ? awaitingOperator({ boundary: replay.boundary, approved: replay.authorized }, kinds) : [];
    return procedureView(state, this.currentProgress(), awaiting);
  }

  /**
   * The scope check, first in every call a caller makes: a procedure outside
   * the caller's scope answers as one that does not exist, and nothing is written.
   */
  private outOfScope(access: Access): Decision<never> | null {
    if (this.state === null || inScope(access.scopes, this.state.target_asset_ids)) return null;
    return this.notFound();
  }

  /** The state a read needs: refused as not found when nobody registered the procedure or it lies outside the caller's scope. */
  private reachable(access: Access): Decision<ProcedureState> {
    if (this.state === null) return this.notFound();
    return this.outOfScope(access) ?? accept(this.state);
  }

  private notFound(): Decision<never> {
    return notFound(this.procedureId());
  }
}

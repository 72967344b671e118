// ProcedureObject: one Durable Object per procedure, a thin shell around the
// pure core. Each command loads the state (kept in memory), decides (pure),
// writes events, snapshot and the projection job in one transaction before any
// await, and then does its after-commit work (the alarm, the projection timer).
// The object knows which procedure it is from its own id, never from an argument.
import { DurableObject } from "cloudflare:workers";
import { inScope } from "../../auth/grants";
import { doneAfter, manifestOf } from "../../conduct/entries";
import { awaitingOperator, replayPlan, suggestBoundary } from "../../conduct/replay";
import { payloadToStep, type Step } from "../../conduct/steps";
import { database } from "../../db/client";
import { markSummaryArchived, upsertSummary, type SummaryRow } from "../../db/summaries";
import { config, metricsFor } from "../../env";
import { logLine } from "../../observability/log";
import { archiveDue, archiveKey } from "../../retention/policy";
import { uuidv7 } from "../../ids";
import { enqueueNotifications, type NotifyMessage } from "../../notify/delivery";
import { failedStep, notificationsOf, stallNotification, type Notification, type StepFailure } from "../../notify/events";
import { outboxAfterInsertStatement } from "../../db/subscriptions";
import { NOTIFY_BACKSTOP_MS, NOTIFY_COALESCE_MS, NOTIFY_JOB, recordNotifications, removeSent, retryAt, sendPending } from "../../notify/outbox";
import { activePrincipalById, principalHoldingToken } from "../../auth/principals";
import { LiveFeed, type StreamHolder } from "../../live/hub";
import { parseStreamId } from "../../live/position";
import { issueTicket, redeemTicket, type StreamTicket, type TicketHolder } from "../../live/tickets";
import { AFTER_HEADER, PRINCIPAL_HEADER, refusalResponse, type Subscriber } from "../../live/wire";
import { decideActivities, decideGoAhead, payloadTexts, reusedEventId, type ManifestShape } from "../activity";
import type {
  Access,
  Caller,
  AppendResult,
  ConductPlan,
  Conducted,
  Page,
  PinnedManifest,
  RegisterInput,
  ReplayResult,
  ResumePoint,
  StallEpisode,
  StallObservation,
  WatchReading,
} from "../contract";
import { decideAll, decideConductFrom, notFound, type DecideContext, type ProcedureCommand } from "../decide";
import type { ProcedureEvent, RecordedEvent } from "../events";
import {
  knownEntries,
  MAX_PAGE_BYTES,
  latestRecordedAt,
  markMirrored,
  okStepIndexes,
  pageEntries,
  readProgress,
  recordEntries,
  stepReport,
  type ActivityEntry,
  type ActivityEntryInput,
  type StoredProgress,
} from "./logbook";
import {
  ArchiveMismatch,
  ArchiveMissing,
  archivedActivities,
  archivedEvents,
  archivedManifest,
  archiveLines,
  ARCHIVE_JOB,
  archiveUnavailable,
  checkArchive,
  verifyArchive,
  writeArchive,
  type Tombstone,
} from "./archive";
import { exportLines, exportPage, type ExportCursor, type ExportPage } from "./export";
import { writeSummary, mirrorDue, PROJECTION_BACKSTOP_MS, PROJECTION_DELAY_MS, PROJECTION_JOB } from "./projection";
import { accept, refuse, type Verdict, type Refusal } from "../refusal";
import { CLEANUP_DELAY_MS, Scheduler, systemClock, type Clock, type Job, type JobRun, type JobTable } from "./schedule";
import type { ProcedureState } from "../state";
import {
  appendEvents,
  appliedMigrations,
  eventsAfter,
  isCurrent,
  loadManifest,
  loadSnapshot,
  loadTombstone,
  migrate,
  overdueEvent,
  pinManifest,
  releaseToTombstone,
} from "./storage";
import { activeReplay, procedureView, summaryRow, type ProcedureView } from "../view";
import { currentEpisode, openStallDecisionId, stallAct, type StallRecord } from "../../watcher/act";
import { decisionId, stallDecision, WATCHER_AGENT } from "../../watcher/stall";
import { attemptOfJob, deadlinesArmed, overdueDecision, overdueDecisionId, stepOverdueDecision } from "../../watcher/deadline";
import { watcherGate } from "../../watcher/gate";
import { insertDecisionStatement } from "../../db/decisions";
import type { DecisionRecord } from "../../decisions/vocabulary";
import { isFinished } from "../../vocabulary";

/** Where the object keeps the latest Stall the watcher told it of (key-value storage beside the record). */
const STALL_KEY = "watcher:stall";
/** The job that writes a Stall the object acted on to D1, should the tick that decided it fail first. */
const STALL_DECISION_JOB = "stall-decision";
/** How long the tick has to record that decision itself before the object does (the insert is idempotent either way). */
const STALL_DECISION_BACKSTOP_MS = 30_000;


/** The steps of archiving after which a test may stop it (a crash there). */
export type ArchiveStep = "written" | "verified" | "released";

/** The manifest as the object keeps it in memory: pinned payloads, parsed steps, and their kinds and targets. */
type PinnedSteps = { pinned: PinnedManifest; steps: Step[]; deadlines: Array<number | null> } & ManifestShape;

export class ProcedureObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** False until registration creates the schema: an unregistered object has written nothing. */
  private hasSchema: boolean;
  private state: ProcedureState | null = null;
  /** Set once the procedure is archived: its record is in the ARCHIVE bucket, and `state` is its last state. */
  private archived: Tombstone | null = null;
  /** The etag of the archive file last found to hold what was archived: a read of the same file is not checked again. */
  private archiveChecked: string | null = null;
  private progress: StoredProgress | null = null;
  /** The steps whose latest report is ok, read once from the logbook and kept in step with each batch. */
  private done: Set<number> | undefined;
  private manifest: PinnedSteps | null | undefined;
  private projecting: Promise<void> | null = null;
  /** The projection timer now pending; any projection voids it, so a stale timer never runs one out of turn. */
  private timer: object | null = null;
  private notifying: Promise<void> | null = null;
  /** The last notification the queue took; its removal from the outbox may still be waiting (see Cleanup). */
  private sentThrough = 0;
  /** When the last send after a commit began: a commit within NOTIFY_COALESCE_MS of it waits that long to send. */
  private lastSendAt = Number.NEGATIVE_INFINITY;
  /** Whether a send after a commit is waiting for the end of that window. */
  private sendTimer = false;
  /** Whether a timer to apply waiting clean-ups is set. */
  private cleanupTimer = false;
  private openStall: StallRecord | null | undefined;
  /** The object's timed work: the projection, the notification send, the stream check and the watcher's jobs, each on its own. */
  private readonly schedule: Scheduler;
  /** The procedure's subscribers (SSE and hibernatable WebSockets) and the broadcast after each commit. */
  readonly live: LiveFeed;

  /** Where summaries go; a test may swap it to simulate a D1 outage. */
  projectSummary: (row: SummaryRow) => Promise<void>;
  /**
   * Where the watcher's decisions the object records go (an idempotent insert, with the D1 outbox row of its
   * notification when given); a test may swap it to simulate a D1 outage.
   */
  recordDecision: (decision: DecisionRecord, notification?: Notification) => Promise<void>;
  /** Whether the watcher is enabled (WATCHER_ENABLED); a test may set it. */
  watcherEnabled: () => boolean;
  /** Where committed notifications go; a test may swap it to capture them or simulate a queue outage. */
  sendNotifications: (batch: Notification[]) => Promise<void>;
  /** Whether a subscriber's principal may keep its stream open with the token that opened it (D1); a test may swap it to simulate an outage. */
  principalIsActive: (holder: StreamHolder) => Promise<boolean>;
  /** Where an archive's completion goes (the projection row's archived_at); a test may swap it to simulate a D1 outage. */
  markArchived: (procedureId: string, archivedAt: string) => Promise<void>;
  /** Called after each step of archiving; a test throws from it to stop the archive there, as a crash would. */
  archiveCheckpoint: (step: ArchiveStep) => void | Promise<void> = () => {};
  /** Every time the object stamps, every due time it computes and its own timers; a test may set it. */
  clock: Clock = systemClock;
  /** Whether the object writes its info lines (TELEMETRY_ENABLED); warnings and errors always go. */
  private readonly logs: boolean;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.logs = config(env).telemetry;
    this.projectSummary = (row) => upsertSummary(database(env.DB), row);
    this.recordDecision = async (decision, notification) => {
      const insert = insertDecisionStatement(env.DB, decision);
      await env.DB.batch(notification ? [insert, outboxAfterInsertStatement(env.DB, notification, decision.recorded_at)] : [insert]);
    };
    this.watcherEnabled = () => config(env).watcher.enabled;
    this.sendNotifications = (batch) => enqueueNotifications(env.NOTIFICATIONS as Queue<NotifyMessage>, batch);
    this.markArchived = (id, at) => markSummaryArchived(database(env.DB), id, at);
    this.principalIsActive = async ({ principal_id, token_hash }) => {
      const db = database(env.DB);
      // A socket accepted before streams were bound to tokens answers for its principal alone.
      const holding = token_hash
        ? principalHoldingToken(db, config(env).adminToken, principal_id, token_hash, this.clock.now())
        : activePrincipalById(db, principal_id, this.clock.now());
      return (await holding) !== null;
    };
    const clock: Clock = { now: () => this.clock.now(), sleep: (ms) => this.clock.sleep(ms) };
    this.live = new LiveFeed(ctx, {
      clock,
      current: () => this.state && { view: this.view(this.state), version: this.state.version, terminal: isFinished(this.state.status) },
      armAlarm: () => this.armAlarm(),
      jobs: () => this.jobs,
      isActive: (holder) => this.principalIsActive(holder),
    });
    this.schedule = new Scheduler(
      ctx.storage,
      clock,
      {
        projection: { run: () => this.runProjection() },
        notify: { run: () => this.runNotify() },
        "stream-check": this.live.checkJob,
        deadline: { run: (job) => this.runDeadline(job) },
        "stall-decision": { run: () => this.runStallDecision() },
        archive: { run: () => this.runArchive() },
      },
      () => ({ procedure_id: this.procedureId() }),
      (run) => this.jobRan(run),
    );
    // Answered by the runtime without waking the object, so an idle subscriber's pings cost nothing.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    const applied = appliedMigrations(this.sql);
    this.hasSchema = applied > 0;
    if (!this.hasSchema) return;
    if (!isCurrent(applied)) migrate(ctx.storage, applied);
    this.archived = loadTombstone(this.sql);
    this.state = this.archived?.state ?? loadSnapshot(this.sql);
    if (this.jobs.nextDueAt() !== null) void ctx.blockConcurrencyWhile(() => this.schedule.resume());
  }

  // ---- commands -----------------------------------------------------------

  /** Registers the procedure this object stands for; `procedureId` must be that procedure. */
  async register(procedureId: string, input: RegisterInput, actor: Caller): Promise<Verdict<ProcedureView>> {
    const own = this.ctx.id.name;
    if (procedureId !== own) return refuse("ProcedureIdMismatch", `this object stands for procedure ${own ?? "(unnamed)"}, not ${procedureId}`);
    const hidden = this.outOfScope(actor);
    if (hidden) return hidden;
    return this.run([{ type: "RegisterProcedure", ...input }], actor);
  }

  /** Runs one lifecycle command (start, hold, resume, complete, abort, truncate). */
  async command(command: ProcedureCommand, actor: Caller): Promise<Verdict<ProcedureView>> {
    const hidden = this.writable(actor);
    if (hidden) return hidden;
    return this.run([command], actor);
  }

  /** Pins the resolved steps and starts the procedure in one append. */
  async conduct(plan: ConductPlan, actor: Caller): Promise<Verdict<Conducted>> {
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
  async conductFrom(boundary: number, actor: Caller): Promise<Verdict<ReplayResult>> {
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
  async authorizeReplayStep(stepIndex: number, actor: Caller): Promise<Verdict<ProcedureView>> {
    const hidden = this.writable(actor);
    if (hidden) return hidden;
    const decided = decideGoAhead(this.state, this.loadManifest(), stepIndex, this.context());
    if (!decided.ok) return decided;
    await this.commit(decided.value, actor);
    return accept(this.view(decided.value.state));
  }

  /** Validates and records a gateway's batch; the batch may complete, abort or hold the procedure. */
  async appendActivities(entries: ActivityEntryInput[], actor: Caller): Promise<Verdict<AppendResult>> {
    const hidden = this.writable(actor);
    if (hidden) return hidden;
    const reached = this.reachable(actor);
    if (!reached.ok) return reached;
    const state = reached.value;
    const payloads = payloadTexts(entries);
    if (!payloads.ok) return payloads;
    const ctx = this.context();
    const recorded = knownEntries(this.sql, entries.map((e) => e.event_id));
    const reused = reusedEventId(entries, recorded);
    if (reused) return reused;
    const done_steps = this.doneSteps();
    const decided = decideActivities(state, this.loadManifest(), entries, new Set(recorded.keys()), { ...ctx, logbook_id: uuidv7(), done_steps });
    if (!decided.ok) return decided;
    const { fresh, steps, duplicate_count } = decided.value;
    const atVersion = state.version;
    if (fresh.length > 0) {
      // An in_flight of a step with a deadline arms the schedule for it, in the same transaction.
      const deadlines = deadlinesArmed(steps, this.loadManifest()?.deadlines ?? [], ctx.now);
      const record = () => {
        recordEntries(this.sql, fresh, payloads.value, steps, ctx.now, actor.principal_id, atVersion);
        for (const job of deadlines) this.jobs.request(job.key, "deadline", job.due_at);
      };
      // Read again from storage should the commit fail part way.
      this.done = undefined;
      await this.commit(decided.value, actor, record, failedStep(fresh));
      this.done = doneAfter(done_steps, steps);
      if (deadlines.length > 0) await this.armAlarm();
    }
    return accept({ event_count: fresh.length, duplicate_count });
  }

  // ---- reads --------------------------------------------------------------

  /** The procedure's current state, from its own storage. */
  async read(access: Access): Promise<Verdict<ProcedureView>> {
    const reached = this.reachable(access);
    if (!reached.ok) return reached;
    return accept(this.archived ? this.archivedView(this.archived) : this.view(reached.value));
  }

  /** A page of the event log in version order, after `after`. */
  async events(after: number, limit: number, access: Access): Promise<Verdict<Page<RecordedEvent>>> {
    const reached = this.reachable(access);
    if (!reached.ok) return reached;
    if (this.archived) {
      return this.fromArchive(async (file) => {
        const page = await archivedEvents(file, after, limit);
        return { items: page.items as unknown as RecordedEvent[], next_cursor: page.next };
      });
    }
    const page = eventsAfter(this.sql, after, limit);
    return accept({ items: page.items, next_cursor: page.next });
  }

  /** The pinned step list; refused before conduct. */
  async readManifest(access: Access): Promise<Verdict<PinnedManifest>> {
    const reached = this.reachable(access);
    if (!reached.ok) return reached;
    const read = this.archived
      ? await this.fromArchive(async (file) => (await archivedManifest(file)) as PinnedManifest | null)
      : accept(this.loadManifest()?.pinned ?? null);
    if (!read.ok) return read;
    return read.value ? accept(read.value) : refuse("ManifestNotFound", "the procedure has no pinned manifest");
  }

  /** Where a resume should start: the interrupted step, else the first without an ok. */
  async resumePoint(access: Access): Promise<Verdict<ResumePoint>> {
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
      suggested_boundary: suggestBoundary({
        stepCount,
        inFlightStepIndex: progress.in_flight_step_index,
        okIndexes: okStepIndexes(this.sql),
        doneBefore: this.state ? (activeReplay(this.state)?.boundary ?? 0) : 0,
      }),
      in_flight_step_index: progress.in_flight_step_index,
      completed_count: progress.completed_count,
      step_count: stepCount,
    };
  }

  /** A page of the logbook, newest first. */
  async activities(cursor: number | null, limit: number, access: Access): Promise<Verdict<Page<ActivityEntry>>> {
    const reached = this.reachable(access);
    if (!reached.ok) return reached;
    if (this.archived) {
      return this.fromArchive(async (file) => {
        const page = await archivedActivities(file, cursor, limit, MAX_PAGE_BYTES);
        return { items: page.items as unknown as ActivityEntry[], next_cursor: page.next };
      });
    }
    const page = pageEntries(this.sql, cursor, limit);
    return accept({ items: page.items, next_cursor: page.next === null ? null : String(page.next) });
  }

  /**
   * One page of the procedure's export (JSON Lines): the first, with a null
   * cursor, starts with the state and fixes where the record ends.
   */
  async exportPage(cursor: ExportCursor | null, access: Access): Promise<Verdict<ExportPage>> {
    const reached = this.reachable(access);
    if (!reached.ok) return reached;
    if (this.archived) {
      // The Worker streams the file itself: it is checked here first.
      const checked = await this.fromArchive(async () => null);
      if (!checked.ok) return checked;
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
    this.jobs.request(ARCHIVE_JOB, "archive", this.clock.now());
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

  /**
   * The watcher tells the object of the Stall it records (`stall`: the
   * decision id and its episode). The object keeps it for the state's
   * `open_stall_decision_id` and, when the procedure is Running, was conducted
   * with `on_stall: "hold"` and the agent may hold (`mayHold`), holds it with
   * cause `stall` as the agent, through the ordinary decide-and-commit path.
   * Told again of the same decision (an overlapping tick), it answers what it
   * did the first time. An episode that already ended is neither kept nor acted on.
   * A Stall it acted on is also written to D1 by its own job, in case the
   * tick fails before its batch: the hold never stands without its decision.
   */
  async observeStall(episode: StallEpisode, mayHold: boolean): Promise<StallObservation> {
    const state = this.state;
    if (state === null) return { acted: null, not_acted: null };
    const stall = { decision_id: decisionId(state.procedure_id, episode.last_progress_at), last_progress_at: episode.last_progress_at };
    const known = this.stallRecord();
    if (known?.decision_id === stall.decision_id) return { acted: known.acted, not_acted: known.not_acted };
    const wanted = stallAct(state, mayHold);
    if (currentEpisode(state, this.currentProgress().last_activity_at) !== stall.last_progress_at) {
      return { acted: null, not_acted: wanted === "flag" ? null : "progressed" };
    }
    const record: StallRecord = { ...stall, acted: null, held_at: null, not_acted: wanted === "denied" ? "denied" : null };
    const keep = () => this.ctx.storage.kv.put(STALL_KEY, (this.openStall = record));
    if (wanted === "hold") {
      const ctx = this.context();
      const reason = `no progress since ${stall.last_progress_at}: held by the watcher (decision ${stall.decision_id})`;
      const decided = decideAll(state, [{ type: "HoldProcedure", reason, cause: "stall" }], ctx);
      if (decided.ok) {
        Object.assign(record, { acted: "hold", held_at: ctx.now, decision: stallDecision({ ...episode, procedure_id: state.procedure_id, acted: "hold" }) });
        const owed = () => {
          keep();
          this.jobs.request(STALL_DECISION_JOB, "stall-decision", this.clock.now() + STALL_DECISION_BACKSTOP_MS);
        };
        await this.commit(decided.value, { principal_id: WATCHER_AGENT.id, correlation_id: stall.decision_id, scopes: null }, owed);
        await this.armAlarm();
        return { acted: "hold", not_acted: null };
      }
      record.not_acted = decided.refusal.error_class;
    }
    // The open stall changes the state with no commit: subscribers see it in the next state message.
    keep();
    return { acted: null, not_acted: record.not_acted };
  }

  // ---- live progress --------------------------------------------------------

  /**
   * The object's one HTTP entry: a stream of the procedure (SSE, or a WebSocket
   * on upgrade). Commands and reads are RPC; a stream is a long-lived response
   * RPC cannot return, and the WebSocket Hibernation API accepts sockets only
   * here. The Worker authorizes first and names the subscriber in a header.
   */
  override async fetch(request: Request): Promise<Response> {
    const subscriber = JSON.parse(request.headers.get(PRINCIPAL_HEADER) ?? "null") as Subscriber | null;
    if (!subscriber) return new Response("streams are opened through the Worker", { status: 400 });
    const reached = this.reachable(subscriber);
    if (!reached.ok) return refusalResponse(reached.refusal);
    if (this.archived) return refusalResponse(this.archivedRefusal());
    const afterText = request.headers.get(AFTER_HEADER);
    const holder = { principal_id: subscriber.principal_id, token_hash: subscriber.token_hash };
    const opened = await this.live.open(request, holder, afterText ? parseStreamId(afterText) : null);
    return opened instanceof Response ? opened : refusalResponse(opened);
  }

  /** A short-lived, single-use ticket that opens one stream of this procedure as `holder` (a principal and its current token). */
  async issueStreamTicket(holder: TicketHolder, access: Access): Promise<Verdict<StreamTicket>> {
    const reached = this.reachable(access);
    if (!reached.ok) return reached;
    if (this.archived) return { ok: false, refusal: this.archivedRefusal() };
    return accept(await issueTicket(this.sql, holder, this.clock.now()));
  }

  /**
   * Spends a ticket: who it was issued to. A procedure nobody registered answers
   * exactly as an unknown ticket, so the ticket path tells nobody which exist.
   */
  async redeemStreamTicket(ticket: string): Promise<Verdict<TicketHolder>> {
    const holder = this.state === null ? null : await redeemTicket(this.sql, ticket, this.clock.now());
    return holder ? accept(holder) : refuse("Unauthenticated", "the stream ticket is unknown, spent or expired");
  }

  /** Subscribers only listen; anything they send (other than the automatic ping) is ignored. */
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
   * Writes the projection now if one is pending, whatever its due
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

  /**
   * One send at a time, so a notification is never handed over twice by the
   * object itself. `later`: the send follows a commit, and the removal of what
   * the queue took waits for the object's next write (see Cleanup).
   */
  private async runNotify(later = false): Promise<void> {
    while (this.notifying) await this.notifying;
    this.notifying = (async () => {
      // A commit during a send asks for the job again; its notifications go in the next round.
      for (let job = this.jobs.pending(NOTIFY_JOB); job !== null; job = this.jobs.pending(NOTIFY_JOB)) {
        try {
          await sendPending(this.sql, this.sentThrough, this.sendNotifications, (through) => {
            this.sentThrough = through;
            if (later) this.schedule.cleanup.add(NOTIFY_JOB, () => removeSent(this.sql, through));
            else removeSent(this.sql, through);
          });
          this.jobs.settle(job, { ok: true }, this.clock.now() + NOTIFY_BACKSTOP_MS, later);
        } catch (error) {
          const retry_at = retryAt(job.attempts, this.clock.now());
          logLine("warn", { msg: "notifications deferred", procedure_id: this.procedureId(), attempts: job.attempts + 1, error: String(error) });
          this.jobs.settle(job, { ok: false, retry_at }, retry_at);
          return;
        }
      }
    })().finally(() => {
      this.notifying = null;
    });
    await this.notifying;
  }

  /**
   * A deadline job: judges the step attempt it names once its deadline has
   * passed. Under the watcher's gates (off, kill switch, denied: the attempt
   * is let go), an attempt still open gets its StepOverdue decision, recorded
   * first in the procedure's log as the agent's event (with its notification,
   * in one transaction) and then in D1. A D1 failure throws, and the
   * scheduler retries the job with backoff; a retry finds the event and
   * never judges twice.
   */
  private async runDeadline(job: Job): Promise<void> {
    if (this.state === null) return;
    const gate = await watcherGate(database(this.env.DB), this.watcherEnabled(), this.clock.now());
    await this.judgeDeadline(job, gate.open);
  }

  /** The Stall this object acted on, written to D1 with its notification (idempotent: the tick's batch may have done it). */
  private async runStallDecision(): Promise<void> {
    const decision = this.stallRecord()?.decision;
    if (!decision || this.state === null) return;
    const { procedure_id, kind, target_asset_ids } = this.state;
    await this.recordDecision(decision, stallNotification(decision, { procedure_id, kind, target_asset_ids }));
  }

  private async judgeDeadline(job: Job, gateOpen: boolean): Promise<void> {
    const attempt = attemptOfJob(job.key);
    const state = this.state;
    if (attempt === null || state === null) return;
    const id = overdueDecisionId(state.procedure_id, attempt);
    const recorded = overdueEvent(this.sql, id);
    let decision = recorded && stepOverdueDecision(state.procedure_id, attempt, recorded.deadline_seconds, Date.parse(recorded.occurred_at));
    if (decision === null) {
      if (!gateOpen) {
        logLine("info", { msg: "deadline not judged: the watcher is off, inactive or denied", procedure_id: state.procedure_id, ...attempt }, this.logs);
        return;
      }
      // Judged on the state as it is now, after the gate's awaits.
      const ctx = this.context();
      const reading = {
        procedure_id: state.procedure_id,
        status: state.status,
        latest: stepReport(this.sql, attempt.step_index),
        deadline_seconds: this.loadManifest()?.deadlines[attempt.step_index] ?? null,
      };
      decision = overdueDecision(reading, attempt, Date.parse(ctx.now));
      if (decision === null) return;
      const command = { type: "RecordStepOverdue", ...attempt, deadline_seconds: reading.deadline_seconds!, decision_id: id } as const;
      const decided = decideAll(state, [command], ctx);
      if (!decided.ok) return;
      await this.commit(decided.value, { principal_id: WATCHER_AGENT.id, correlation_id: id, scopes: null });
    }
    await this.recordDecision(decision);
  }

  /**
   * Projections run one at a time: a repeated or overlapping one would be
   * harmless (monotonic in version) but wasted. `later`: the removal of the
   * job done waits for the object's next write (see Cleanup).
   */
  private async runProjection(later = false): Promise<void> {
    while (this.projecting) await this.projecting;
    if (this.state === null) return;
    const job = this.jobs.pending(PROJECTION_JOB);
    if (!job) return;
    this.timer = null;
    this.projecting = (async () => {
      const now = this.clock.now();
      const row = summaryRow(this.state!, this.currentProgress(), new Date(now).toISOString());
      const outcome = await writeSummary(this.projectSummary, row, job.attempts, now);
      this.jobs.settle(job, outcome, this.clock.now() + PROJECTION_DELAY_MS, later);
    })().finally(() => {
      this.projecting = null;
    });
    await this.projecting;
  }

  /** One line and one metric per alarm job run. */
  private jobRan({ job, outcome, duration_ms }: JobRun): void {
    const procedure_id = this.procedureId();
    logLine("info", { msg: "job", procedure_id, kind: job.kind, key: job.key, outcome, attempts: job.attempts, duration_ms }, this.logs);
    metricsFor(this.env).write({ kind: "job", job: job.kind, outcome, procedure_id, duration_ms, attempts: job.attempts });
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
      if (!isFinished(state.status)) return;
      // What the record still owes the list and the webhooks goes out first.
      if (this.jobs.pending(PROJECTION_JOB)) await this.runProjection();
      if (this.jobs.pending(NOTIFY_JOB)) await this.runNotify();
      if (this.jobs.pending(PROJECTION_JOB) || this.jobs.pending(NOTIFY_JOB)) throw new Error("the projection or a notification is still pending");
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
      this.schedule.cleanup.flush();
      releaseToTombstone(this.ctx.storage, tombstone, ARCHIVE_JOB);
      this.jobs.reload();
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

  /** The projection a command asked for, on the object's own timer; the alarm is its backstop. */
  private projectSoon(): void {
    const timer = {};
    this.timer = timer;
    void this.clock
      .sleep(PROJECTION_DELAY_MS)
      .then(async () => {
        if (this.timer !== timer || this.state === null) return;
        await this.runProjection(true);
        this.cleanupSoon();
        await this.armAlarm();
      })
      .catch((error: unknown) => logLine("error", { msg: "projection failed", procedure_id: this.procedureId(), error: String(error) }));
  }

  /**
   * The send after a commit: right away unless the last send after a commit
   * began less than NOTIFY_COALESCE_MS ago; then after waiting that long, when
   * one send hands the queue everything committed meanwhile. (A commit during
   * a send is taken by that send's next round, as before.) A busy procedure then
   * sends (and wakes the queue's consumer) a few times a second, not once per
   * command. The alarm's backstop covers an object that stops in between.
   */
  private notifySoon(): void {
    if (this.sendTimer) return;
    const send = () => {
      this.sendTimer = false;
      this.lastSendAt = this.clock.now();
      void this.runNotify(true)
        .then(() => this.cleanupSoon())
        .catch((error: unknown) => logLine("error", { msg: "notify failed", procedure_id: this.procedureId(), error: String(error) }));
    };
    const since = this.clock.now() - this.lastSendAt;
    // A clock that went back counts as a window over.
    if (since >= NOTIFY_COALESCE_MS || since < 0) return send();
    this.sendTimer = true;
    void this.clock.sleep(NOTIFY_COALESCE_MS).then(send, (error: unknown) => {
      this.sendTimer = false;
      logLine("error", { msg: "notify failed", procedure_id: this.procedureId(), error: String(error) });
    });
  }

  /**
   * Clean-ups left waiting by the work after a commit go with the next
   * command's transaction; on a procedure gone quiet, this timer applies them
   * as one commit of their own after CLEANUP_DELAY_MS.
   */
  private cleanupSoon(): void {
    if (this.cleanupTimer || !this.schedule.cleanup.pending) return;
    this.cleanupTimer = true;
    void this.clock
      .sleep(CLEANUP_DELAY_MS)
      .then(() => {
        this.cleanupTimer = false;
        this.schedule.flushCleanup();
      })
      .catch((error: unknown) => logLine("error", { msg: "clean-up failed", procedure_id: this.procedureId(), error: String(error) }));
  }

  /** The schedule table. */
  private get jobs(): JobTable {
    return this.schedule.jobs;
  }

  // ---- internals ----------------------------------------------------------

  private context(): DecideContext {
    return { procedure_id: this.procedureId(), now: new Date(this.clock.now()).toISOString() };
  }

  private procedureId(): string {
    return this.state?.procedure_id ?? this.ctx.id.name ?? this.ctx.id.toString();
  }

  private async run(commands: ProcedureCommand[], actor: Caller): Promise<Verdict<ProcedureView>> {
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
    actor: Caller,
    record?: () => void,
    failure: StepFailure | null = null,
  ): Promise<void> {
    if (!this.hasSchema) migrate(this.ctx.storage, 0);
    this.hasSchema = true;
    const { events, state } = decided;
    const dueAt = this.clock.now() + PROJECTION_DELAY_MS;
    const notifications = notificationsOf(this.state, events, failure).map((n) => ({ ...n, request_id: actor.correlation_id }));
    const { progress, armed, notified } = this.schedule.transaction(() => {
      appendEvents(this.sql, events, state, actor);
      const notified = recordNotifications(this.sql, notifications) && this.jobs.request(NOTIFY_JOB, "notify", dueAt);
      const completedBefore = record ? this.currentProgress().completed_count : 0;
      record?.();
      let progress = record ? readProgress(this.sql) : this.progress;
      const mirror = progress !== null && mirrorDue(progress, record ? completedBefore : progress.completed_count);
      if (mirror) {
        markMirrored(this.sql, progress!.last_activity_at);
        progress = { ...progress!, mirrored_activity_at: progress!.last_activity_at };
      }
      const armed = (events.length > 0 || mirror) && this.jobs.request(PROJECTION_JOB, "projection", dueAt);
      // What the work after the last commit left to clean up goes in this one, last: a job asked for again
      // above took over its row instead of having it removed and inserted anew.
      this.schedule.cleanup.flush();
      return { progress, armed, notified };
    });
    this.state = state;
    this.progress = progress;
    // No log line of its own: the request's line names the request, and each event carries its id as correlation_id.
    this.live.committed();
    if (notified) {
      // Sent right away, or within NOTIFY_COALESCE_MS on a busy procedure; the alarm only for an object that stops first.
      await this.armAlarm(NOTIFY_BACKSTOP_MS);
      this.notifySoon();
    }
    if (!armed) return;
    await this.armAlarm(PROJECTION_BACKSTOP_MS);
    this.projectSoon();
  }

  private doneSteps(): Set<number> {
    return (this.done ??= this.hasSchema ? okStepIndexes(this.sql) : new Set());
  }

  private exportSource(state: ProcedureState) {
    return { sql: this.sql, view: this.view(state), manifest: () => this.loadManifest()?.pinned ?? null };
  }

  /** The archived state as reads answer it: the last state, with when it was archived. */
  private archivedView(tombstone: Tombstone): ProcedureView {
    return { ...tombstone.view, archived_at: tombstone.archived_at };
  }

  /**
   * A read from the archived file, once the file is found to hold what was
   * archived; a file missing from the bucket, or not the one archived, is
   * refused as unavailable, not thrown as a bare 500 nor served.
   */
  private async fromArchive<T>(read: (file: AsyncIterable<string>) => Promise<T>): Promise<Verdict<T>> {
    const tombstone = this.archived!;
    try {
      this.archiveChecked = await checkArchive(this.env.ARCHIVE, tombstone.archive_key, tombstone, this.archiveChecked);
      // The archive's lines, read from the bucket as they are consumed.
      return accept(await read(archiveLines(this.env.ARCHIVE, tombstone.archive_key)));
    } catch (error) {
      if (!(error instanceof ArchiveMissing || error instanceof ArchiveMismatch)) throw error;
      return refuse("ArchiveUnavailable", archiveUnavailable(error.message));
    }
  }

  private archivedRefusal(): Refusal {
    return { error_class: "ProcedureArchived", detail: `procedure ${this.procedureId()} is archived: its reads and export answer from the archive, and it takes no command` };
  }

  /** The checks before any write: in the caller's scope (else not found), then not archived. */
  private writable(access: Access): Verdict<never> | null {
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
    return (this.manifest = { pinned, steps, deadlines: steps.map((s) => s.deadline_seconds ?? null), ...manifestOf(steps) });
  }

  private view(state: ProcedureState): ProcedureView {
    // An archived procedure's progress and manifest are in its file, not its storage.
    if (this.archived) return this.archivedView(this.archived);
    const replay = activeReplay(state);
    const kinds = replay ? (this.loadManifest()?.manifestKinds ?? []) : [];
    const awaiting = replay ? awaitingOperator({ boundary: replay.boundary, approved: replay.authorized }, kinds) : [];
    const progress = this.currentProgress();
    return procedureView(state, progress, awaiting, openStallDecisionId(this.stallRecord(), state, progress.last_activity_at));
  }

  /** The latest Stall the watcher told this object of (kept in storage, read once per wake). */
  private stallRecord(): StallRecord | null {
    if (this.openStall === undefined) this.openStall = this.hasSchema ? (this.ctx.storage.kv.get<StallRecord>(STALL_KEY) ?? null) : null;
    return this.openStall;
  }

  /**
   * The scope check, first in every call a caller makes: a procedure outside
   * the caller's scope answers as one that does not exist, and nothing is written.
   */
  private outOfScope(access: Access): Verdict<never> | null {
    if (this.state === null || inScope(access.scopes, this.state.target_asset_ids)) return null;
    return this.notFound();
  }

  /** The state a read needs: refused as not found when nobody registered the procedure or it lies outside the caller's scope. */
  private reachable(access: Access): Verdict<ProcedureState> {
    if (this.state === null) return this.notFound();
    return this.outOfScope(access) ?? accept(this.state);
  }

  private notFound(): Verdict<never> {
    return notFound(this.procedureId());
  }
}

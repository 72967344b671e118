// A handle on one procedure: its reads, the commands an operator gives it,
// and the activity writer a gateway reports through.
import { ActivityWriter, type ActivityWriterOptions } from "./activity-writer.ts";
import { isProblem } from "./errors.ts";
import { follow, type Following, type StreamMessage } from "./follow.ts";
import type { Transport } from "./http.ts";
import type {
  ActivityEntry,
  ActivityEntryInput,
  AppendResult,
  ConductRequest,
  ConductResult,
  HoldCause,
  Manifest,
  Page,
  Procedure,
  ProcedureEvent,
  ReplayPlan,
  ResumePoint,
} from "./types.ts";

export class ProcedureHandle {
  readonly id: string;
  readonly #http: Transport;

  constructor(http: Transport, id: string) {
    this.#http = http;
    this.id = id;
  }

  get #params() {
    return { params: { id: this.id } };
  }

  /**
   * Follows the procedure live (its stream): `onMessage` gets the current
   * `state`, then every event, `activity` batch and fresh `state` in commit
   * order; a dropped connection is reopened from the last id, so nothing is
   * missed or repeated. Ends by itself once the procedure has ended.
   */
  follow(onMessage: (message: StreamMessage) => void, options: { after?: string } = {}): Following {
    return follow(this.#http, this.id, onMessage, options);
  }

  /** The procedure's state, from its own object (always current). */
  read(): Promise<Procedure> {
    return this.#http.call("get", "/v1/procedures/{id}", this.#params);
  }

  /** The pinned step list (404 `ManifestNotFound` before conduct). */
  manifest(): Promise<Manifest> {
    return this.#http.call("get", "/v1/procedures/{id}/manifest", this.#params);
  }

  /** The boundary the service suggests for a resume. */
  resumePoint(): Promise<ResumePoint> {
    return this.#http.call("get", "/v1/procedures/{id}/resume-point", this.#params);
  }

  /** A page of the event log, in version order, after version `after`. */
  events(after = 0, limit = 100): Promise<Page<ProcedureEvent>> {
    return this.#http.call("get", "/v1/procedures/{id}/events", { ...this.#params, query: { after, limit } });
  }

  /** A page of the logbook, newest first. */
  activities(options: { cursor?: string; limit?: number } = {}): Promise<Page<ActivityEntry>> {
    return this.#http.call("get", "/v1/procedures/{id}/activities", { ...this.#params, query: options });
  }

  /** Resolves, pins and starts. A lifecycle refusal comes back in the body (`succeeded: false`), as the contract says. */
  conduct(request: ConductRequest): Promise<ConductResult> {
    return this.#http.call("post", "/v1/procedures/{id}/conduct", { ...this.#params, body: request });
  }

  start(): Promise<Procedure> {
    return this.#http.call("post", "/v1/procedures/{id}/start", this.#params);
  }

  hold(reason: string, cause: HoldCause = "operator"): Promise<Procedure> {
    return this.#http.call("post", "/v1/procedures/{id}/hold", { ...this.#params, body: { reason, cause } });
  }

  resume(boundary: number, cause: HoldCause = "operator"): Promise<Procedure> {
    return this.#http.call("post", "/v1/procedures/{id}/resume", { ...this.#params, body: { re_establishment_boundary: boundary, cause } });
  }

  /** Resumes a Held conducted procedure from `boundary` and answers the replay plan. */
  conductFrom(boundary: number): Promise<ReplayPlan> {
    return this.#http.call("post", "/v1/procedures/{id}/conduct-from", { ...this.#params, body: { re_establishment_boundary: boundary } });
  }

  /** The operator's go-ahead for a replayed action or compute step. */
  goAhead(stepIndex: number): Promise<Procedure> {
    return this.#http.call("post", "/v1/procedures/{id}/go-ahead", { ...this.#params, body: { step_index: stepIndex } });
  }

  complete(): Promise<Procedure> {
    return this.#http.call("post", "/v1/procedures/{id}/complete", this.#params);
  }

  abort(reason: string): Promise<Procedure> {
    return this.#http.call("post", "/v1/procedures/{id}/abort", { ...this.#params, body: { reason } });
  }

  truncate(reason: string, interruptedAt?: string): Promise<Procedure> {
    const body = interruptedAt === undefined ? { reason } : { reason, interrupted_at: interruptedAt };
    return this.#http.call("post", "/v1/procedures/{id}/truncate", { ...this.#params, body });
  }

  /** Posts one batch as it is (1-500 entries with their own event ids); retried like a read, since entries are deduplicated. */
  append(entries: ActivityEntryInput[]): Promise<AppendResult> {
    return this.#http.call("post", "/v1/procedures/{id}/activities", { ...this.#params, body: { entries }, retry: "safe" });
  }

  /**
   * A writer for this procedure's logbook. Step reports need the pinned
   * manifest: pass it, or it is read (a procedure without one gets a
   * free-form writer, whose step methods throw).
   */
  async activityWriter(options: ActivityWriterOptions & { manifest?: Manifest | null } = {}): Promise<ActivityWriter> {
    let manifest = options.manifest;
    if (manifest === undefined) {
      try {
        manifest = await this.manifest();
      } catch (error) {
        if (!isProblem(error, "ManifestNotFound")) throw error;
        manifest = null;
      }
    }
    return new ActivityWriter((entries) => this.append(entries), this.#http.clock, manifest, options);
  }

  /**
   * The boundary the procedure was last resumed from (after version
   * `sinceVersion`), or null when it was not resumed since. Reads the event
   * log, which needs the `ReadProcedureEvents` grant (the reader role).
   */
  async lastResumeBoundary(sinceVersion: number): Promise<number | null> {
    let boundary: number | null = null;
    for (let after = sinceVersion; ; ) {
      const page = await this.events(after, 500);
      for (const event of page.items) {
        if (event.type === "ProcedureResumed") boundary = Number(event.payload.re_establishment_boundary);
        after = event.version;
      }
      if (page.next_cursor === null || page.items.length === 0) return boundary;
    }
  }
}

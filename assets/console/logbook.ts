// Reads a procedure's logbook incrementally: the first read pages through it
// once; every later read asks only for the newest page(s) and stops where the
// last one ended, so a poll costs one small request. A live stream's entries
// are added as they come. The stream and the reads overlap and race (a read's
// answer may arrive after newer entries came over the stream), so each entry
// counts once and a step's report is never replaced by an older one.
import { query, type Api } from "./api";
import { latestReports, type StepReport } from "./progress";
import type { ActivityEntry, Page } from "./types";

const FIRST_PAGE = 500;
const POLL_PAGE = 50;
const KEPT = 50;

export class LogbookReader {
  readonly reports = new Map<number, StepReport>();
  /** When each step was first reported (in flight, usually): with its latest report, how long it took. */
  readonly firstReported = new Map<number, string>();
  /** The newest entries, newest first, for display. */
  recent: ActivityEntry[] = [];
  /** Every entry counted so far, by event id. */
  private readonly seen = new Set<string>();
  /** The newest entry up to which this reader holds the logbook with no gap: a read stops there. */
  private through: string | null = null;
  /**
   * Whether the stream's entries continue `through` with no gap. A fresh
   * stream carries only what happens after it opened, so its entries join
   * once a read started after it has ended.
   */
  private joined = false;
  /** Counts fresh streams: a read joins the stream that was current when it started. */
  private streams = 0;
  /** Reads run one at a time, each starting where the last one ended. */
  private reading: Promise<unknown> = Promise.resolve();

  constructor(private readonly api: Api, private readonly procedureId: string) {}

  /** A fresh live stream starts now: what it brings joins what the next read finds. */
  liveFromNow(): void {
    this.streams += 1;
    this.joined = false;
  }

  /** True when new entries arrived. */
  refresh(): Promise<boolean> {
    const read = this.reading.catch(() => undefined).then(() => this.read());
    this.reading = read;
    return read;
  }

  private async read(): Promise<boolean> {
    const stream = this.streams;
    const stopAt = this.through;
    const listed: ActivityEntry[] = [];
    let cursor: string | null = null;
    const limit = stopAt === null ? FIRST_PAGE : POLL_PAGE;
    for (;;) {
      const page: Page<ActivityEntry> = await this.api("GET", `/v1/procedures/${this.procedureId}/activities${query({ cursor, limit })}`);
      const known = page.items.findIndex((entry) => entry.event_id === stopAt);
      listed.push(...(known === -1 ? page.items : page.items.slice(0, known)));
      if (known !== -1 || page.next_cursor === null) break;
      cursor = page.next_cursor;
    }
    // The stream may have moved `through` on meanwhile; its entries are then the newer.
    if (listed.length > 0 && this.through === stopAt) this.through = listed[0]!.event_id;
    if (stream === this.streams && stream > 0) this.joined = true;
    return this.add(listed);
  }

  /** Entries a live stream delivered, oldest first; those already counted are skipped. True when any was new. */
  ingest(itemsOldestFirst: readonly ActivityEntry[]): boolean {
    if (this.joined && itemsOldestFirst.length > 0) this.through = itemsOldestFirst.at(-1)!.event_id;
    return this.add([...itemsOldestFirst].reverse());
  }

  private add(newestFirst: readonly ActivityEntry[]): boolean {
    const fresh = newestFirst.filter((entry) => !this.seen.has(entry.event_id));
    if (fresh.length === 0) return false;
    for (const entry of fresh) this.seen.add(entry.event_id);
    // A report replaces a step's known one unless that one was recorded later (it came over the stream first).
    for (const [index, report] of latestReports(fresh)) {
      const known = this.reports.get(index);
      if (known === undefined || known.recorded_at <= report.recorded_at) this.reports.set(index, report);
    }
    for (const entry of fresh) {
      const index = entry.payload.step_index;
      if (typeof index !== "number") continue;
      const known = this.firstReported.get(index);
      if (known === undefined || entry.recorded_at < known) this.firstReported.set(index, entry.recorded_at);
    }
    // Newest first by when the service recorded them; a batch keeps its own order (the sort is stable).
    this.recent = [...fresh, ...this.recent].sort((a, b) => b.recorded_at.localeCompare(a.recorded_at)).slice(0, KEPT);
    return true;
  }
}

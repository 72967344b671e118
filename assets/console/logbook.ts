// Reads a procedure's logbook incrementally: the first read pages through it
// once; every later read asks only for the newest page(s) and stops at the
// newest entry it already has, so a poll costs one small request. A live
// stream's entries are added as they come.
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
  private newestEventId: string | null = null;

  constructor(private readonly api: Api, private readonly procedureId: string) {}

  /** True when new entries arrived. */
  async refresh(): Promise<boolean> {
    const fresh: ActivityEntry[] = [];
    let cursor: string | null = null;
    const limit = this.newestEventId === null ? FIRST_PAGE : POLL_PAGE;
    for (;;) {
      const page: Page<ActivityEntry> = await this.api("GET", `/v1/procedures/${this.procedureId}/activities${query({ cursor, limit })}`);
      const known = page.items.findIndex((entry) => entry.event_id === this.newestEventId);
      fresh.push(...(known === -1 ? page.items : page.items.slice(0, known)));
      if (known !== -1 || page.next_cursor === null) break;
      cursor = page.next_cursor;
    }
    return this.add(fresh);
  }

  /** Entries a live stream delivered, oldest first; those already shown are skipped. True when any was new. */
  ingest(itemsOldestFirst: readonly ActivityEntry[]): boolean {
    const known = new Set(this.recent.map((entry) => entry.event_id));
    return this.add(itemsOldestFirst.filter((entry) => !known.has(entry.event_id)).reverse());
  }

  private add(freshNewestFirst: ActivityEntry[]): boolean {
    if (freshNewestFirst.length === 0) return false;
    // Everything fresh is newer than what is known, so its reports win.
    for (const [index, report] of latestReports(freshNewestFirst)) this.reports.set(index, report);
    for (const entry of freshNewestFirst) {
      const index = entry.payload.step_index;
      if (typeof index !== "number") continue;
      const known = this.firstReported.get(index);
      if (known === undefined || entry.recorded_at < known) this.firstReported.set(index, entry.recorded_at);
    }
    this.newestEventId = freshNewestFirst[0]!.event_id;
    this.recent = [...freshNewestFirst, ...this.recent].slice(0, KEPT);
    return true;
  }
}

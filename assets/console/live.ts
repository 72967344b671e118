// Follows one procedure over its Server-Sent Events stream. EventSource cannot
// send the bearer token, so each connection spends a single-use ticket; when
// a connection fails it is closed (its own retry would present the spent
// ticket) and reopened with a fresh ticket after the last id received, so
// the replay fills the gap and nothing is shown twice.
import { ApiProblem, type Api } from "./api";
import type { ActivityEntry, Procedure, ProcedureEvent, StreamTicket } from "./types";
import { isFinished } from "../../src/vocabulary";

/** The event log's types: EventSource delivers a named message only to a listener for that name. */
const EVENT_TYPES = [
  "ProcedureRegistered",
  "ResolvedStepsRecorded",
  "ProcedureStarted",
  "ProcedureHeld",
  "ProcedureHoldClaimReleased",
  "ProcedureResumed",
  "ProcedureCompleted",
  "ProcedureAborted",
  "ProcedureTruncated",
  "ProcedureActivitiesLogbookOpened",
  "ProcedureReplayStepAuthorized",
  "ProcedureStepOverdue",
];
const RETRY_MS = [1_000, 2_000, 5_000, 10_000, 30_000];

export interface LiveHandlers {
  /** `first` is the first state of a stream opened from nothing: what came before it must be read separately. */
  state(procedure: Procedure, first: boolean): void;
  event(event: ProcedureEvent): void;
  /** Entries oldest first. */
  activity(items: ActivityEntry[]): void;
  /** True while a stream is open; false while it is down (the page polls meanwhile). */
  connected(open: boolean): void;
}

/** Starts following; the returned function stops for good. */
export function followProcedure(api: Api, procedureId: string, on: LiveHandlers): () => void {
  let source: EventSource | null = null;
  let lastId = "";
  let stopped = false;
  let failures = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  function retry() {
    if (stopped) return;
    on.connected(false);
    timer = setTimeout(() => void open(), RETRY_MS[Math.min(failures, RETRY_MS.length - 1)]);
    failures += 1;
  }

  function track(handle: (data: any) => void) {
    return (message: Event) => {
      const { data, lastEventId } = message as MessageEvent<string>;
      if (lastEventId) lastId = lastEventId;
      handle(JSON.parse(data));
    };
  }

  async function open() {
    let ticket: StreamTicket;
    try {
      ticket = await api<StreamTicket>("POST", `/v1/procedures/${procedureId}/stream-ticket`);
    } catch (error) {
      // An archived procedure has no stream, now or later: stop, and let the page read its state.
      if (error instanceof ApiProblem && error.problem.error_class === "ProcedureArchived") {
        stopped = true;
        on.connected(false);
        return;
      }
      retry();
      return;
    }
    if (stopped) return;
    const url = new URL(ticket.stream_path, location.href);
    if (lastId) url.searchParams.set("after", lastId);
    let first = lastId === "";
    const stream = new EventSource(url);
    source = stream;
    stream.addEventListener("open", () => {
      failures = 0;
      on.connected(true);
    });
    stream.addEventListener(
      "state",
      track((procedure: Procedure) => {
        on.state(procedure, first);
        first = false;
        // The stream of a procedure that is over ends after its final state: nothing more to follow.
        if (isFinished(procedure.status)) close();
      }),
    );
    stream.addEventListener("activity", track((data: { items: ActivityEntry[] }) => on.activity(data.items)));
    for (const type of EVENT_TYPES) stream.addEventListener(type, track((event: ProcedureEvent) => on.event(event)));
    stream.addEventListener("error", () => {
      if (source !== stream) return;
      close();
      retry();
    });
  }

  function close() {
    source?.close();
    source = null;
  }

  void open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    close();
  };
}

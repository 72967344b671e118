// The words the service, the console and the client share, in one place with
// no imports, so the console's build (assets/tsconfig.json) can take them as
// they are. The names are the contract (DOMAIN.md).

/** Every status a procedure can be in, in lifecycle order. */
export const PROCEDURE_STATUSES = ["Defined", "Running", "Held", "Completed", "Aborted", "Truncated"] as const;
export type ProcedureStatus = (typeof PROCEDURE_STATUSES)[number];

/** The statuses a procedure never leaves: a stream ends on them, and only these are ever archived. */
export const FINISHED_STATUSES = ["Completed", "Aborted", "Truncated"] as const satisfies readonly ProcedureStatus[];
export type FinishedStatus = (typeof FINISHED_STATUSES)[number];

const FINISHED: ReadonlySet<string> = new Set(FINISHED_STATUSES);

/** Whether a procedure in this status is finished (it never changes again). */
export function isFinished(status: string): status is FinishedStatus {
  return FINISHED.has(status);
}

/**
 * The most activity entries one request may carry. The TypeScript client is
 * built on its own and keeps a copy (MAX_BATCH), which a unit test holds equal.
 */
export const MAX_ENTRIES_PER_BATCH = 500;

import { describe, expect, it } from "vitest";
import { MAX_BATCH } from "../../clients/typescript/src/activity-writer";
import { FINISHED_STATUSES as CLIENT_FINISHED_STATUSES } from "../../clients/typescript/src/follow";
import { FINISHED_STATUSES, isFinished, MAX_ENTRIES_PER_BATCH, PROCEDURE_STATUSES } from "../../src/vocabulary";

describe("the shared vocabulary", () => {
  it("finishes a procedure only in Completed, Aborted or Truncated", () => {
    expect(PROCEDURE_STATUSES.filter(isFinished)).toEqual(["Completed", "Aborted", "Truncated"]);
    expect(FINISHED_STATUSES.every((status) => (PROCEDURE_STATUSES as readonly string[]).includes(status))).toBe(true);
  });

  it("does not finish a status it does not know", () => {
    expect(isFinished("completed")).toBe(false);
    expect(isFinished("")).toBe(false);
  });

  it("gives the TypeScript client the service's batch limit", () => {
    expect(MAX_BATCH).toBe(MAX_ENTRIES_PER_BATCH);
  });

  it("gives the TypeScript client's stream the service's finished statuses", () => {
    expect(CLIENT_FINISHED_STATUSES).toEqual(FINISHED_STATUSES);
  });
});

import { describe, expect, it } from "vitest";
import { archiveCutoff, archiveDue, archiveKey, DEFAULT_ARCHIVE_AFTER_SECONDS, parseRetentionConfig } from "../../../src/retention/policy";

const config = parseRetentionConfig({});
const finishedAt = "2026-01-10T12:00:00.000Z";
const after = (seconds: number) => Date.parse(finishedAt) + seconds * 1000;

describe("when a procedure is archived", () => {
  it("archives a finished procedure once ARCHIVE_AFTER_SECONDS have passed, not a moment before", () => {
    expect(config.archiveAfterSeconds).toBe(DEFAULT_ARCHIVE_AFTER_SECONDS);
    for (const status of ["Completed", "Aborted", "Truncated"]) {
      expect(archiveDue(status, finishedAt, after(DEFAULT_ARCHIVE_AFTER_SECONDS), config)).toBe(true);
      expect(archiveDue(status, finishedAt, after(DEFAULT_ARCHIVE_AFTER_SECONDS) - 1, config)).toBe(false);
    }
  });

  it("never archives a procedure that can still change", () => {
    for (const status of ["Defined", "Running", "Held"]) expect(archiveDue(status, finishedAt, after(10 * DEFAULT_ARCHIVE_AFTER_SECONDS), config)).toBe(false);
    expect(archiveDue("Completed", null, after(10 * DEFAULT_ARCHIVE_AFTER_SECONDS), config)).toBe(false);
  });

  it("selects the same procedures in the projection as the object would archive", () => {
    const now = after(DEFAULT_ARCHIVE_AFTER_SECONDS);
    expect(archiveCutoff(now, config)).toBe(finishedAt);
    expect(archiveCutoff(now - 1, config) < finishedAt).toBe(true);
  });

  it("keys the file by the year and month the procedure was registered", () => {
    const id = "0190a4b2-0000-7000-8000-000000000001";
    expect(archiveKey(id, "2026-03-31T23:59:59.999Z")).toBe(`procedures/2026/03/${id}.jsonl.gz`);
    expect(archiveKey(id, "2026-12-01T00:00:00.000Z")).toBe(`procedures/2026/12/${id}.jsonl.gz`);
  });

  it("reads each window from its variable and refuses one that is not a positive integer", () => {
    expect(parseRetentionConfig({ ARCHIVE_AFTER_SECONDS: "60", IDEMPOTENCY_KEY_RETENTION_SECONDS: "3600" })).toMatchObject({
      archiveAfterSeconds: 60,
      keepSeconds: { idempotencyKeys: 3600 },
    });
    for (const bad of ["", "0", "-1", "1.5", " 60", "1e3"]) expect(() => parseRetentionConfig({ ARCHIVE_AFTER_SECONDS: bad })).toThrow(/ARCHIVE_AFTER_SECONDS/);
  });
});

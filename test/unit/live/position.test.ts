// Stream ids as positions in a procedure's record.
import { describe, expect, it } from "vitest";
import { beyond, parseStreamId, recordId, samePosition, stateId } from "../../../src/live/position";

describe("stream ids", () => {
  it("reads back what it gives out, a state id marked as such", () => {
    expect(parseStreamId(recordId({ version: 12, seq: 40 }))).toEqual({ version: 12, seq: 40, state: false });
    expect(parseStreamId(stateId({ version: 12, seq: 40 }))).toEqual({ version: 12, seq: 40, state: true });
  });

  it("refuses ids it never gives out", () => {
    for (const text of ["", "12", "12.", ".4", "12.40.1", "12.40.states", "-1.0", "1e3.0", "1234567890123456.0"]) {
      expect(parseStreamId(text), text).toBeNull();
    }
  });

  it("knows a position past the record's end", () => {
    const current = { version: 5, seq: 9 };
    expect(beyond({ version: 5, seq: 9 }, current)).toBe(false);
    expect(beyond({ version: 3, seq: 2 }, current)).toBe(false);
    expect(beyond({ version: 6, seq: 0 }, current)).toBe(true);
    expect(beyond({ version: 0, seq: 10 }, current)).toBe(true);
    expect(samePosition({ version: 5, seq: 9 }, current)).toBe(true);
  });
});

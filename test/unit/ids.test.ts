import { describe, expect, it } from "vitest";
import { isUuid, uuidv5, uuidv7 } from "../../src/ids";

describe("ids", () => {
  it("derives the RFC 9562 example UUIDv5", () => {
    expect(uuidv5("www.example.com", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")).toBe(
      "2ed6657d-e927-568b-95e1-2665a8aea6a2",
    );
  });
  it("gives the same v5 for the same name and a different one otherwise", () => {
    expect(uuidv5("a|operator")).toBe(uuidv5("a|operator"));
    expect(uuidv5("a|operator")).not.toBe(uuidv5("a|step-fault"));
  });
  it("makes time-ordered version 7 ids", () => {
    const early = uuidv7(1_000);
    const late = uuidv7(2_000);
    expect(isUuid(early)).toBe(true);
    expect(early[14]).toBe("7");
    expect(early < late).toBe(true);
  });
});

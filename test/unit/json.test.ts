import { describe, expect, it } from "vitest";
import { jsonProblem, jsonTextProblem, MAX_JSON_DEPTH, utf8Length } from "../../src/json";

describe("jsonTextProblem", () => {
  it("counts bracket depth outside strings only, without recursion", () => {
    expect(jsonTextProblem("[".repeat(64) + "]".repeat(64))).toBeNull();
    expect(jsonTextProblem("[".repeat(65) + "]".repeat(65))).toMatchObject({ kind: "depth" });
    expect(jsonTextProblem(`{"a":"${"[".repeat(1000)}"}`)).toBeNull();
    expect(jsonTextProblem(`{"a":"\\"${"{".repeat(100)}"}`)).toBeNull();
    expect(jsonTextProblem("[".repeat(1_000_000))).toMatchObject({ kind: "depth" });
  });

  it.each([
    ['"\\ud83d\\ude00"', null],
    ['"\\u00e9\\uFFFD"', null],
    ['"\\ud800"', "surrogate"],
    ['"\\udc00"', "surrogate"],
    ['"\\ud800\\ud800"', "surrogate"],
    ['"\\ud800a"', "surrogate"],
    ['"\\ud800\\n"', "surrogate"],
    ['{"\\udfff":1}', "surrogate"],
  ])("judges surrogate escapes in %s", (text, kind) => {
    const problem = jsonTextProblem(text);
    expect(problem?.kind ?? null).toBe(kind);
  });
});

describe("jsonProblem", () => {
  it(`refuses free-form JSON nested deeper than ${MAX_JSON_DEPTH} levels`, () => {
    let value: unknown = 1;
    for (let i = 0; i < MAX_JSON_DEPTH; i++) value = { a: value };
    expect(jsonProblem(value)).toBeNull();
    expect(jsonProblem({ a: value })).toContain("deeper than");
  });
});

describe("utf8Length", () => {
  it.each(["", "abc", "é", "€", "😀", "a\ud800b"])("agrees with TextEncoder for %j", (text) => {
    expect(utf8Length(text)).toBe(new TextEncoder().encode(text).length);
  });
});

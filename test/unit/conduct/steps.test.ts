import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ConductRequestSchema,
  payloadToStep,
  RequestStepSchema,
  STEP_KINDS,
  type Step,
  StepPayloadError,
  StepSchema,
  stepToPayload,
} from "../../../src/conduct/steps";

// JSON cannot carry -0 (it is written as 0), so the JSON round trip is stated over
// values without it; the in-memory round trip keeps -0 exactly.
const anyNumber = fc.double({ noNaN: true, noDefaultInfinity: true });
const jsonNumber = anyNumber.map((n) => (n === 0 ? 0 : n));

function withoutNegativeZero(value: unknown): unknown {
  if (value === 0) return 0;
  if (Array.isArray(value)) return value.map(withoutNegativeZero);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutNegativeZero(v)]));
  }
  return value;
}

// A "__proto__" key is refused (see the test below), so valid steps never carry one.
function hasProtoKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasProtoKey);
  if (value !== null && typeof value === "object") {
    return Object.entries(value).some(([k, v]) => k === "__proto__" || hasProtoKey(v));
  }
  return false;
}

// JSON.parse never makes null-prototype objects, so the generated steps do not either.
const record = ((model: Record<string, fc.Arbitrary<unknown>>, constraints: object = {}) =>
  fc.record(model, { ...constraints, noNullPrototype: true })) as typeof fc.record;

function stepArbitrary({ json }: { json: boolean }): fc.Arbitrary<Step> {
  const num = json ? jsonNumber : anyNumber;
  const text = fc.string({ minLength: 1, maxLength: 200 });
  const params = fc
    .dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5, noNullPrototype: true })
    .filter((p) => !hasProtoKey(p))
    .map((p) => (json ? (withoutNegativeZero(p) as typeof p) : p));
  return fc.oneof(
    record({ kind: fc.constant("setpoint" as const), address: text, value: num, verify: fc.boolean() }),
    record({ kind: fc.constant("action" as const), name: text, params }),
    record({
      kind: fc.constant("check" as const),
      address: text,
      criterion: fc.oneof(
        record({ kind: fc.constant("equals" as const), expected: fc.oneof(num, fc.string(), fc.boolean()) }),
        record({
          kind: fc.constant("within_tolerance" as const),
          expected: num,
          tolerance: num.map((n) => Math.abs(n)),
        }),
      ),
    }),
    record({ kind: fc.constant("capture" as const), address: text, capture_name: text }),
    record(
      {
        kind: fc.constant("compute" as const),
        command: fc.array(fc.string(), { minLength: 1, maxLength: 5 }),
        input_uris: fc.array(fc.webUrl(), { maxLength: 3 }),
        output_uri: fc.webUrl(),
        parameters: params,
        capture_name: text,
      },
      { requiredKeys: ["kind", "command", "input_uris", "parameters"] },
    ),
  );
}

// A thousand generated steps take a few seconds on a busy machine; the default 5 s is too tight.
const PROPERTY_TIMEOUT_MS = 30_000;

const setpoint: Step = { kind: "setpoint", address: "motor.x", value: 1.5, verify: true };

describe("StepSchema", () => {
  it("accepts one example of every kind", () => {
    const examples: Step[] = [
      setpoint,
      { kind: "action", name: "open_shutter", params: { delay_ms: 20, tags: ["a", null] } },
      { kind: "check", address: "ring.current", criterion: { kind: "equals", expected: "on" } },
      { kind: "check", address: "ring.current", criterion: { kind: "within_tolerance", expected: 300, tolerance: 0.5 } },
      { kind: "capture", address: "detector.image", capture_name: "img" },
      { kind: "compute", command: ["integrate"], input_uris: ["r2://a"], parameters: {} },
    ];
    expect(examples.map((s) => StepSchema.parse(s))).toEqual(examples);
    expect(new Set(examples.map((s) => s.kind))).toEqual(new Set(STEP_KINDS));
  });

  it.each([
    ["an unknown key", { ...setpoint, speed: 3 }],
    ["an unknown kind", { ...setpoint, kind: "move" }],
    ["an infinite value", { ...setpoint, value: Number.POSITIVE_INFINITY }],
    ["NaN", { ...setpoint, value: Number.NaN }],
    ["an empty address", { ...setpoint, address: "" }],
    ["a 201-char address", { ...setpoint, address: "a".repeat(201) }],
    ["a negative tolerance", { kind: "check", address: "a", criterion: { kind: "within_tolerance", expected: 1, tolerance: -1 } }],
    ["a null equals expectation", { kind: "check", address: "a", criterion: { kind: "equals", expected: null } }],
    ["an empty command", { kind: "compute", command: [], input_uris: [], parameters: {} }],
    ["a non-JSON param", { kind: "action", name: "x", params: { f: () => 1 } }],
  ])("rejects %s", (_label, payload) => {
    expect(StepSchema.safeParse(payload).success).toBe(false);
  });
});

describe("RequestStepSchema and ConductRequestSchema", () => {
  it("accepts nested repeats with scans and rejects a bad child deep inside", () => {
    const scan = { kind: "scan", address: "energy", start: 7, stop: 8, points: 11, capture_name: "spec" };
    const nested = { kind: "repeat", times: 2, steps: [{ kind: "repeat", times: 3, steps: [scan, setpoint] }] };
    expect(RequestStepSchema.parse(nested)).toEqual(nested);

    const bad = { kind: "repeat", times: 2, steps: [{ kind: "repeat", times: 3, steps: [{ ...scan, points: 0 }] }] };
    const result = RequestStepSchema.safeParse(bad);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(["steps", 0, "steps", 0, "points"]);
  });

  it.each([
    ["repeat times 0", { kind: "repeat", times: 0, steps: [setpoint] }],
    ["repeat times 1001", { kind: "repeat", times: 1001, steps: [setpoint] }],
    ["an empty repeat", { kind: "repeat", times: 2, steps: [] }],
    ["scan points 10001", { kind: "scan", address: "a", start: 0, stop: 1, points: 10_001 }],
    ["a fractional scan points", { kind: "scan", address: "a", start: 0, stop: 1, points: 2.5 }],
  ])("rejects %s", (_label, step) => {
    expect(RequestStepSchema.safeParse(step).success).toBe(false);
  });

  it("defaults closing_steps to a fresh [], on_failure to abort and on_stall to flag", () => {
    const first = ConductRequestSchema.parse({ steps: [setpoint] });
    const second = ConductRequestSchema.parse({ steps: [setpoint] });
    expect(first).toEqual({ steps: [setpoint], closing_steps: [], on_failure: "abort", on_stall: "flag" });
    expect(first.closing_steps).not.toBe(second.closing_steps);
  });

  it("rejects no steps, unknown keys and unknown on_failure; leaves the step count to resolution", () => {
    expect(ConductRequestSchema.safeParse({ steps: [] }).success).toBe(false);
    expect(ConductRequestSchema.safeParse({ steps: Array(501).fill(setpoint) }).success).toBe(true);
    expect(ConductRequestSchema.safeParse({ steps: [setpoint], dry_run: true }).success).toBe(false);
    expect(ConductRequestSchema.safeParse({ steps: [setpoint], on_failure: "retry" }).success).toBe(false);
    expect(ConductRequestSchema.parse({ steps: [setpoint], on_failure: "hold" }).on_failure).toBe("hold");
  });
});

describe("stepToPayload / payloadToStep", () => {
  it("keeps a step's deadline, last, on every kind", () => {
    const steps: Step[] = [
      { kind: "setpoint", address: "x", value: 1, verify: true, deadline_seconds: 5 },
      { kind: "action", name: "a", params: {}, deadline_seconds: 5 },
      { kind: "check", address: "x", criterion: { kind: "equals", expected: 1 }, deadline_seconds: 5 },
      { kind: "capture", address: "d", capture_name: "f", deadline_seconds: 5 },
      { kind: "compute", command: ["fit"], input_uris: [], parameters: {}, deadline_seconds: 5 },
    ];
    for (const step of steps) {
      const payload = stepToPayload(step);
      expect(Object.keys(payload).at(-1)).toBe("deadline_seconds");
      expect(payloadToStep(JSON.parse(JSON.stringify(payload)))).toEqual(step);
    }
  });

  it.each([0, 604801, 2.5, -1])("refuses a deadline_seconds of %s", (deadline_seconds) => {
    expect(() => payloadToStep({ kind: "setpoint", address: "x", value: 1, verify: true, deadline_seconds })).toThrow(StepPayloadError);
  });

  it("leaves optional fields absent rather than undefined", () => {
    const payload = stepToPayload({ kind: "compute", command: ["fit"], input_uris: [], parameters: {}, output_uri: undefined });
    expect(Object.keys(payload)).toEqual(["kind", "command", "input_uris", "parameters"]);
    const step = payloadToStep({ kind: "compute", command: ["fit"], input_uris: [], parameters: {}, capture_name: undefined });
    expect("capture_name" in step).toBe(false);
  });

  it("shares no objects with its input", () => {
    const step: Step = { kind: "action", name: "a", params: { nested: { n: 1 } } };
    const payload = stepToPayload(step) as { params: { nested: { n: number } } };
    payload.params.nested.n = 2;
    expect(step.params).toEqual({ nested: { n: 1 } });
  });

  it("refuses a __proto__ key at any depth instead of silently dropping it", () => {
    for (const text of ['{"__proto__": {"polluted": true}}', '{"a": [{"__proto__": 1}]}']) {
      const params = JSON.parse(text) as Record<string, unknown>;
      expect(() => payloadToStep({ kind: "action", name: "a", params })).toThrow("params: not a JSON object: uses the reserved key __proto__");
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ["undefined", { a: undefined }, "holds a value of type undefined"],
    ["a date", { a: new Date(0) }, "holds a non-plain object"],
    ["Infinity", { a: [1, Number.POSITIVE_INFINITY] }, "holds a non-finite number"],
    ["33 levels of nesting", { a: JSON.parse("[".repeat(33) + "]".repeat(33)) as unknown }, "nests deeper than 32 levels"],
  ])("refuses parameters holding %s", (_label, parameters, problem) => {
    expect(() => payloadToStep({ kind: "compute", command: ["c"], input_uris: [], parameters })).toThrow(problem);
  });

  it("accepts parameters nested exactly 32 levels deep", () => {
    const parameters = { a: JSON.parse("[".repeat(31) + "]".repeat(31)) as unknown };
    expect(payloadToStep({ kind: "compute", command: ["c"], input_uris: [], parameters })).toEqual({
      kind: "compute",
      command: ["c"],
      input_uris: [],
      parameters,
    });
  });

  it.each([
    ["a string", "setpoint", "(payload)"],
    ["null", null, "(payload)"],
    ["a missing field", { kind: "setpoint", address: "a", value: 1 }, "verify"],
    ["a wrong type", { kind: "capture", address: "a", capture_name: 3 }, "capture_name"],
    ["an unknown key", { kind: "capture", address: "a", capture_name: "c", extra: 1 }, "(payload)"],
    ["a bad criterion", { kind: "check", address: "a", criterion: { kind: "near" } }, "criterion.kind"],
  ])("rejects %s with a StepPayloadError naming the field", (_label, payload, field) => {
    expect(() => payloadToStep(payload)).toThrow(StepPayloadError);
    expect(() => payloadToStep(payload)).toThrow(`${field}:`);
  });

  it("round-trips every kind exactly (property)", () => {
    fc.assert(
      fc.property(stepArbitrary({ json: false }), (step) => {
        expect(payloadToStep(stepToPayload(step))).toStrictEqual(step);
      }),
      { numRuns: 1000 },
    );
  }, PROPERTY_TIMEOUT_MS);

  it("round-trips through JSON text (property)", () => {
    fc.assert(
      fc.property(stepArbitrary({ json: true }), (step) => {
        const payload = stepToPayload(step);
        const stored = JSON.parse(JSON.stringify(payload)) as unknown;
        expect(stored).toStrictEqual(payload);
        expect(payloadToStep(stored)).toStrictEqual(step);
        expect(stepToPayload(payloadToStep(stored))).toStrictEqual(stored);
      }),
      { numRuns: 1000 },
    );
  }, PROPERTY_TIMEOUT_MS);

  it("either refuses an arbitrary JSON value or reproduces it exactly (property)", () => {
    const candidate = fc.oneof(
      fc.jsonValue(),
      stepArbitrary({ json: true }).chain((step) =>
        record({ key: fc.constantFrom(...Object.keys(step), "extra"), value: fc.jsonValue() }).map(({ key, value }) => ({
          ...stepToPayload(step),
          [key]: value,
        })),
      ),
    );
    fc.assert(
      fc.property(candidate, (payload) => {
        let step: Step;
        try {
          step = payloadToStep(payload);
        } catch (error) {
          expect(error).toBeInstanceOf(StepPayloadError);
          return;
        }
        expect(stepToPayload(step)).toStrictEqual(payload);
      }),
      { numRuns: 1000 },
    );
  }, PROPERTY_TIMEOUT_MS);
});

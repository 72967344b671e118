import { describe, expect, it } from "vitest";
import {
  MAX_REQUESTED_STEPS,
  MAX_RESOLVED_STEPS,
  type Pseudoaxes,
  referencedAddresses,
  resolveSteps,
} from "../../../src/conduct/resolve";
import type { RequestStep, Step } from "../../../src/conduct/steps";

const none: Pseudoaxes = new Map();
// energy drives two real axes; gap is inverted, so its tolerance scaling uses |scale|.
const energyAxes: Pseudoaxes = new Map([
  [
    "energy",
    [
      { address: "mono.theta", scale: 2, offset: 1 },
      { address: "undulator.gap", scale: -0.5, offset: 10 },
    ],
  ],
]);

function resolved(steps: RequestStep[], pseudoaxes: Pseudoaxes = none, closing_steps: RequestStep[] = []) {
  const result = resolveSteps({ steps, closing_steps }, pseudoaxes);
  if (!result.ok) throw new Error(`expected resolution, got ${result.error_class}: ${result.detail} at ${result.path}`);
  return result;
}

const sp = (address: string, value: number, verify = true): Step => ({ kind: "setpoint", address, value, verify });
const cap = (address: string, capture_name: string): Step => ({ kind: "capture", address, capture_name });

describe("resolveSteps: plain kinds", () => {
  it("passes every resolved kind through unchanged and in order", () => {
    const steps: Step[] = [
      sp("motor.x", 3, false),
      { kind: "action", name: "open_shutter", params: { ms: 5 } },
      { kind: "check", address: "ring", criterion: { kind: "equals", expected: "on" } },
      cap("det", "img"),
      { kind: "compute", command: ["fit", "--fast"], input_uris: ["r2://in"], output_uri: "r2://out", parameters: {} },
    ];
    expect(resolved(steps).resolved_steps).toEqual(steps);
  });

  it("keeps closing steps in their own list", () => {
    const result = resolved([sp("a", 1)], none, [{ kind: "action", name: "close_shutter", params: {} }]);
    expect(result.resolved_steps).toEqual([sp("a", 1)]);
    expect(result.resolved_closing_steps).toEqual([{ kind: "action", name: "close_shutter", params: {} }]);
  });

  it("shares no objects with the request, even across unrolled repeats", () => {
    const action: RequestStep = { kind: "action", name: "a", params: { n: 1 } };
    const out = resolved([{ kind: "repeat", times: 2, steps: [action] }]).resolved_steps;
    expect(out[0]).not.toBe(out[1]);
    (out[0] as unknown as { params: { n: number } }).params.n = 9;
    expect(action.params).toEqual({ n: 1 });
    expect(out[1]).toEqual(action);
  });

  it("never emits -0, since the pinned list must equal its stored JSON form", () => {
    const out = resolved([sp("a", -0), { kind: "scan", address: "b", start: -0, stop: 1, points: 2 }]).resolved_steps;
    expect(Object.is((out[0] as { value: number }).value, 0)).toBe(true);
    expect(Object.is((out[1] as { value: number }).value, 0)).toBe(true);
  });
});

describe("resolveSteps: scan", () => {
  it("expands one point to just the start", () => {
    expect(resolved([{ kind: "scan", address: "x", start: 4, stop: 9, points: 1 }]).resolved_steps).toEqual([sp("x", 4)]);
  });

  it("spaces several points evenly, both ends included, verifying each", () => {
    const out = resolved([{ kind: "scan", address: "x", start: 1, stop: 2, points: 11 }]).resolved_steps;
    expect(out.map((s) => (s as { value: number }).value)).toEqual([1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2]);
    expect(out.every((s) => s.kind === "setpoint" && s.verify)).toBe(true);
  });

  it("scans downwards and across the whole double range without overflow", () => {
    const down = resolved([{ kind: "scan", address: "x", start: 10, stop: 0, points: 3 }]).resolved_steps;
    expect(down).toEqual([sp("x", 10), sp("x", 5), sp("x", 0)]);
    const wide = resolved([{ kind: "scan", address: "x", start: -1e308, stop: 1e308, points: 3 }]).resolved_steps;
    expect(wide).toEqual([sp("x", -1e308), sp("x", 0), sp("x", 1e308)]);
  });

  it("follows each point with a capture when capture_name is given", () => {
    const out = resolved([{ kind: "scan", address: "x", start: 0, stop: 1, points: 2, capture_name: "i0" }]).resolved_steps;
    expect(out).toEqual([sp("x", 0), cap("x", "i0"), sp("x", 1), cap("x", "i0")]);
  });
});

describe("resolveSteps: repeat", () => {
  it("unrolls nested repeats in order", () => {
    const out = resolved([
      {
        kind: "repeat",
        times: 2,
        steps: [sp("a", 1), { kind: "repeat", times: 3, steps: [cap("d", "c")] }],
      },
      sp("b", 2),
    ]).resolved_steps;
    const c = cap("d", "c");
    expect(out).toEqual([sp("a", 1), c, c, c, sp("a", 1), c, c, c, sp("b", 2)]);
  });
});

describe("resolveSteps: pseudoaxes", () => {
  it("expands a setpoint into one linear setpoint per constituent, keeping verify", () => {
    expect(resolved([sp("energy", 4, false)], energyAxes).resolved_steps).toEqual([
      sp("mono.theta", 9, false),
      sp("undulator.gap", 8, false),
    ]);
  });

  it("maps a numeric equals check and a tolerance check per constituent", () => {
    const out = resolved(
      [
        { kind: "check", address: "energy", criterion: { kind: "equals", expected: 2 } },
        { kind: "check", address: "energy", criterion: { kind: "within_tolerance", expected: 2, tolerance: 0.2 } },
      ],
      energyAxes,
    ).resolved_steps;
    expect(out).toEqual([
      { kind: "check", address: "mono.theta", criterion: { kind: "equals", expected: 5 } },
      { kind: "check", address: "undulator.gap", criterion: { kind: "equals", expected: 9 } },
      { kind: "check", address: "mono.theta", criterion: { kind: "within_tolerance", expected: 5, tolerance: 0.4 } },
      { kind: "check", address: "undulator.gap", criterion: { kind: "within_tolerance", expected: 9, tolerance: 0.1 } },
    ]);
  });

  it("refuses an equals check on a pseudoaxis with a non-numeric expectation", () => {
    const result = resolveSteps(
      {
        steps: [sp("a", 1), { kind: "check", address: "energy", criterion: { kind: "equals", expected: "high" } }],
        closing_steps: [],
      },
      energyAxes,
    );
    expect(result).toMatchObject({ ok: false, error_class: "StepResolutionFailed", path: "steps[1]" });
  });

  it("captures each constituent under a suffixed name", () => {
    expect(resolved([cap("energy", "e")], energyAxes).resolved_steps).toEqual([
      cap("mono.theta", "e.mono.theta"),
      cap("undulator.gap", "e.undulator.gap"),
    ]);
  });

  it("scans a pseudoaxis point by point: constituent setpoints, then constituent captures", () => {
    const out = resolved([{ kind: "scan", address: "energy", start: 0, stop: 2, points: 2, capture_name: "s" }], energyAxes)
      .resolved_steps;
    expect(out).toEqual([
      sp("mono.theta", 1),
      sp("undulator.gap", 10),
      cap("mono.theta", "s.mono.theta"),
      cap("undulator.gap", "s.undulator.gap"),
      sp("mono.theta", 5),
      sp("undulator.gap", 9),
      cap("mono.theta", "s.mono.theta"),
      cap("undulator.gap", "s.undulator.gap"),
    ]);
  });

  it.each([
    ["a chain", new Map([["outer", [{ address: "inner", scale: 1, offset: 0 }]], ["inner", [{ address: "real", scale: 1, offset: 0 }]]])],
    ["a cycle", new Map([["outer", [{ address: "inner", scale: 1, offset: 0 }]], ["inner", [{ address: "outer", scale: 1, offset: 0 }]]])],
  ])("refuses a pseudoaxis whose constituent is a pseudoaxis (%s): only real addresses are pinned", (_label, chained) => {
    for (const step of [sp("outer", 3), cap("outer", "frame"), { kind: "check", address: "outer", criterion: { kind: "equals", expected: 3 } } as const]) {
      const result = resolveSteps({ steps: [step], closing_steps: [] }, chained as Pseudoaxes);
      expect(result).toMatchObject({ ok: false, error_class: "StepResolutionFailed", path: "steps[0]" });
      expect(result.ok ? "" : result.detail).toContain("names pseudoaxis inner");
    }
  });

  it.each([
    ["an empty definition", new Map([["energy", []]]), sp("energy", 1), "has no constituents"],
    ["an overflowing map", new Map([["energy", [{ address: "m", scale: 1e308, offset: 0 }]]]), sp("energy", 10), "not a finite number"],
    ["a derived capture name over 200 chars", energyAxes, cap("energy", "n".repeat(195)), "capture_name"],
  ])("refuses %s with StepResolutionFailed and the path", (_label, axes, step, detail) => {
    const result = resolveSteps({ steps: [], closing_steps: [sp("ok", 0), step] }, axes as Pseudoaxes);
    expect(result).toMatchObject({ ok: false, error_class: "StepResolutionFailed", path: "closing_steps[1]" });
    expect(result.ok ? "" : result.detail).toContain(detail);
  });
});

describe("resolveSteps: step deadlines", () => {
  const due = (step: Step, deadline_seconds: number): Step => ({ ...step, deadline_seconds });

  it("keeps a step's own deadline, and adds none where none was asked", () => {
    expect(resolved([due(sp("x", 1), 30), sp("y", 2)]).resolved_steps).toEqual([due(sp("x", 1), 30), sp("y", 2)]);
  });
  it("passes a scan's deadline to every setpoint and capture it expands to", () => {
    const scan: RequestStep = { kind: "scan", address: "x", start: 0, stop: 1, points: 2, capture_name: "c", deadline_seconds: 5 };
    expect(resolved([scan]).resolved_steps).toEqual([due(sp("x", 0), 5), due(cap("x", "c"), 5), due(sp("x", 1), 5), due(cap("x", "c"), 5)]);
  });
  it("passes a repeat's deadline down through nested repeats; a nested step's own deadline wins", () => {
    const repeat: RequestStep = {
      kind: "repeat",
      times: 2,
      deadline_seconds: 60,
      steps: [sp("x", 1), due(sp("y", 2), 5), { kind: "repeat", times: 1, steps: [cap("z", "c")] }],
    };
    const once = [due(sp("x", 1), 60), due(sp("y", 2), 5), due(cap("z", "c"), 60)];
    expect(resolved([repeat]).resolved_steps).toEqual([...once, ...once]);
  });
  it("passes it to each constituent of a pseudoaxis", () => {
    expect(resolved([due(sp("energy", 4, false), 9)], energyAxes).resolved_steps).toEqual([
      due(sp("mono.theta", 9, false), 9),
      due(sp("undulator.gap", 8, false), 9),
    ]);
  });
});

describe("resolveSteps: limits", () => {
  const setpoints = (n: number) => Array.from({ length: n }, (_, i) => sp("a", i));

  it(`accepts exactly ${MAX_REQUESTED_STEPS} requested steps counting the repeat and its children`, () => {
    const result = resolveSteps({ steps: [{ kind: "repeat", times: 1, steps: setpoints(498) }], closing_steps: [sp("z", 0)] }, none);
    expect(result.ok).toBe(true);
  });

  it("refuses the first requested step past the limit, wherever it is nested", () => {
    const nested: RequestStep = { kind: "repeat", times: 1, steps: [{ kind: "repeat", times: 1, steps: setpoints(498) }] };
    expect(resolveSteps({ steps: [nested], closing_steps: [] }, none).ok).toBe(true);
    const result = resolveSteps({ steps: [nested], closing_steps: [sp("z", 0)] }, none);
    expect(result).toEqual({
      ok: false,
      error_class: "StepResolutionLimitExceeded",
      detail: "the request has more than 500 steps (counting nested repeat steps)",
      path: "closing_steps[0]",
    });
    const deep = resolveSteps({ steps: [sp("x", 0), { ...nested, steps: [{ kind: "repeat", times: 1, steps: setpoints(499) }] }], closing_steps: [] }, none);
    expect(deep).toMatchObject({ ok: false, path: "steps[1].steps[0].steps[497]" });
  });

  it(`accepts exactly ${MAX_RESOLVED_STEPS} resolved steps and refuses one more, closing steps included`, () => {
    const scan: RequestStep = { kind: "scan", address: "x", start: 0, stop: 1, points: 10_000 };
    const full = resolveSteps({ steps: [scan], closing_steps: [] }, none);
    expect(full.ok && full.resolved_steps.length).toBe(MAX_RESOLVED_STEPS);
    const over = resolveSteps({ steps: [scan], closing_steps: [sp("park", 0)] }, none);
    expect(over).toEqual({
      ok: false,
      error_class: "StepResolutionLimitExceeded",
      detail: "the request resolves to more than 10000 steps",
      path: "closing_steps[0]",
    });
  });

  it("refuses a huge repeat x scan (and nested repeats) quickly instead of expanding it", () => {
    const started = performance.now();
    const repeatScan = resolveSteps(
      { steps: [{ kind: "repeat", times: 1000, steps: [{ kind: "scan", address: "energy", start: 0, stop: 1, points: 10_000 }] }], closing_steps: [] },
      energyAxes,
    );
    const cube: RequestStep = {
      kind: "repeat",
      times: 1000,
      steps: [{ kind: "repeat", times: 1000, steps: [{ kind: "repeat", times: 1000, steps: [sp("a", 1)] }] }],
    };
    const nested = resolveSteps({ steps: [cube], closing_steps: [] }, none);
    expect(repeatScan).toMatchObject({ ok: false, error_class: "StepResolutionLimitExceeded", path: "steps[0].steps[0]" });
    expect(nested).toMatchObject({ ok: false, error_class: "StepResolutionLimitExceeded", path: "steps[0].steps[0].steps[0].steps[0]" });
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it("refuses repeat 1000 x scan 100 (100,000 steps)", () => {
    const result = resolveSteps(
      { steps: [{ kind: "repeat", times: 1000, steps: [{ kind: "scan", address: "x", start: 0, stop: 1, points: 100 }] }], closing_steps: [] },
      none,
    );
    expect(result).toMatchObject({ ok: false, error_class: "StepResolutionLimitExceeded" });
  });
});

describe("resolveSteps: determinism", () => {
  it("gives the same list for the same request and definitions", () => {
    const request = {
      steps: [
        { kind: "repeat", times: 3, steps: [{ kind: "scan", address: "energy", start: 0.1, stop: 0.7, points: 7, capture_name: "s" }] },
      ] satisfies RequestStep[],
      closing_steps: [sp("energy", 0)],
    };
    const first = resolveSteps(request, energyAxes);
    expect(first.ok && first.resolved_steps.length).toBe(3 * 7 * 4);
    expect(resolveSteps(structuredClone(request), new Map(energyAxes))).toEqual(first);
  });
});

describe("referencedAddresses", () => {
  it("collects every address, nested and closing, but not action names", () => {
    const addresses = referencedAddresses({
      steps: [
        { kind: "repeat", times: 2, steps: [{ kind: "scan", address: "energy", start: 0, stop: 1, points: 2 }, cap("det", "c")] },
        { kind: "action", name: "open", params: {} },
        { kind: "check", address: "ring", criterion: { kind: "equals", expected: 1 } },
      ],
      closing_steps: [sp("park", 0)],
    });
    expect(addresses).toEqual(new Set(["energy", "det", "ring", "park"]));
  });
});

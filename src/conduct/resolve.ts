// Resolution turns a conduct request into the concrete list a gateway will run.
// It is pure and deterministic: the same request and pseudoaxis definitions
// always give the same list, which is then pinned so that later edits to the
// definitions can never change what a resume replays.
import { type Criterion, parseStep, type RequestStep, type Step } from "./steps";

export type PseudoaxisConstituent = { address: string; scale: number; offset: number };
export type Pseudoaxes = ReadonlyMap<string, readonly PseudoaxisConstituent[]>;

type Request = { steps: RequestStep[]; closing_steps: RequestStep[] };

export const MAX_REQUESTED_STEPS = 500;
export const MAX_RESOLVED_STEPS = 10_000;
/** The pinned list is stored twice (event and manifest row); keep it well inside a row's limit. */
export const MAX_MANIFEST_BYTES = 512 * 1024;

/** Why a serialized manifest is too large to pin, or null when it fits. */
export function manifestSizeError(serializedLength: number): string | null {
  return serializedLength > MAX_MANIFEST_BYTES
    ? `the resolved steps serialize to ${serializedLength} bytes; at most ${MAX_MANIFEST_BYTES} can be pinned`
    : null;
}

export type ResolutionErrorClass = "StepResolutionLimitExceeded" | "StepResolutionFailed";
export type ResolveResult =
  | { ok: true; resolved_steps: Step[]; resolved_closing_steps: Step[] }
  | { ok: false; error_class: ResolutionErrorClass; detail: string; path: string };

/** Every address the request names, so the shell loads only the pseudoaxis definitions it needs. */
export function referencedAddresses(request: Request): Set<string> {
  const addresses = new Set<string>();
  const visit = (steps: readonly RequestStep[]) => {
    for (const step of steps) {
      if (step.kind === "repeat") visit(step.steps);
      else if ("address" in step) addresses.add(step.address);
    }
  };
  visit(request.steps);
  visit(request.closing_steps);
  return addresses;
}

class Refusal extends Error {
  constructor(
    readonly error_class: ResolutionErrorClass,
    readonly detail: string,
    readonly path: string,
  ) {
    super(detail);
  }
}

// JSON cannot carry -0, so resolution never emits it: the pinned list must equal its stored form.
const canonicalNumber = (n: number) => (n === 0 ? 0 : n);

function finite(n: number, what: string, path: string): number {
  if (!Number.isFinite(n)) throw new Refusal("StepResolutionFailed", `${what} is not a finite number`, path);
  return canonicalNumber(n);
}

function canonicalCriterion(criterion: Criterion): Criterion {
  if (criterion.kind === "within_tolerance") {
    const { expected, tolerance } = criterion;
    return { kind: "within_tolerance", expected: canonicalNumber(expected), tolerance: canonicalNumber(tolerance) };
  }
  const { expected } = criterion;
  return { kind: "equals", expected: typeof expected === "number" ? canonicalNumber(expected) : expected };
}

/** Point i of `points` evenly spaced values from start to stop, both ends exact. */
function scanPoint(start: number, stop: number, points: number, i: number): number {
  if (i === 0) return start;
  if (i === points - 1) return stop;
  const span = stop - start;
  // A span beyond the double range (e.g. -1e308..1e308) falls back to the overflow-free form.
  if (!Number.isFinite(span)) return start * (1 - i / (points - 1)) + stop * (i / (points - 1));
  return start + (span * i) / (points - 1);
}

class Resolver {
  private emitted = 0;

  constructor(private readonly pseudoaxes: Pseudoaxes) {}

  /** `deadline`: the deadline a scan or repeat around these steps passes on (a step's own wins). */
  resolveList(steps: readonly RequestStep[], prefix: string, out: Step[], deadline?: number): void {
    steps.forEach((step, i) => this.resolveOne(step, `${prefix}[${i}]`, out, deadline));
  }

  private resolveOne(step: RequestStep, path: string, out: Step[], inherited: number | undefined): void {
    const deadline = step.deadline_seconds ?? inherited;
    switch (step.kind) {
      case "repeat":
        for (let n = 0; n < step.times; n++) this.resolveList(step.steps, `${path}.steps`, out, deadline);
        return;
      case "scan":
        for (let i = 0; i < step.points; i++) {
          const value = scanPoint(step.start, step.stop, step.points, i);
          this.setpoint(step.address, value, true, path, out, deadline);
          if (step.capture_name !== undefined) this.capture(step.address, step.capture_name, path, out, deadline);
        }
        return;
      case "setpoint":
        return this.setpoint(step.address, step.value, step.verify, path, out, deadline);
      case "capture":
        return this.capture(step.address, step.capture_name, path, out, deadline);
      case "check":
        return this.check(step, path, out, deadline);
      case "action":
      case "compute":
        return this.emit(step, path, out, deadline);
    }
  }

  private constituents(address: string, path: string): readonly PseudoaxisConstituent[] | undefined {
    const constituents = this.pseudoaxes.get(address);
    // An empty definition would resolve to nothing, silently dropping the step (and letting a
    // repeat spin without emitting, which would defeat the resolved-step limit).
    if (constituents !== undefined && constituents.length === 0) {
      throw new Refusal("StepResolutionFailed", `pseudoaxis ${address} has no constituents`, path);
    }
    // Only real addresses are pinned: a constituent that is itself a pseudoaxis (a definition
    // stored before definitions were checked) would put a setpoint on a virtual address.
    const virtual = constituents?.find((c) => this.pseudoaxes.has(c.address));
    if (virtual !== undefined) {
      throw new Refusal(
        "StepResolutionFailed",
        `pseudoaxis ${address} names pseudoaxis ${virtual.address}; constituents must be real addresses`,
        path,
      );
    }
    return constituents;
  }

  private setpoint(address: string, value: number, verify: boolean, path: string, out: Step[], deadline: number | undefined): void {
    const constituents = this.constituents(address, path);
    if (constituents === undefined) {
      return this.emit({ kind: "setpoint", address, value: canonicalNumber(value), verify }, path, out, deadline);
    }
    for (const c of constituents) {
      const mapped = finite(value * c.scale + c.offset, `setpoint ${address} -> ${c.address}`, path);
      this.emit({ kind: "setpoint", address: c.address, value: mapped, verify }, path, out, deadline);
    }
  }

  private capture(address: string, capture_name: string, path: string, out: Step[], deadline: number | undefined): void {
    const constituents = this.constituents(address, path);
    if (constituents === undefined) return this.emit({ kind: "capture", address, capture_name }, path, out, deadline);
    for (const c of constituents) {
      this.emit({ kind: "capture", address: c.address, capture_name: `${capture_name}.${c.address}` }, path, out, deadline);
    }
  }

  private check(step: Extract<Step, { kind: "check" }>, path: string, out: Step[], deadline: number | undefined): void {
    const constituents = this.constituents(step.address, path);
    const criterion = step.criterion;
    if (constituents === undefined) {
      return this.emit({ kind: "check", address: step.address, criterion: canonicalCriterion(criterion) }, path, out, deadline);
    }
    if (criterion.kind === "equals" && typeof criterion.expected !== "number") {
      throw new Refusal(
        "StepResolutionFailed",
        `check on pseudoaxis ${step.address} needs a numeric expected value to map onto its constituents`,
        path,
      );
    }
    for (const c of constituents) {
      const what = `check ${step.address} -> ${c.address}`;
      const expected = finite((criterion.expected as number) * c.scale + c.offset, what, path);
      this.emit(
        {
          kind: "check",
          address: c.address,
          criterion:
            criterion.kind === "equals"
              ? { kind: "equals", expected }
              : { kind: "within_tolerance", expected, tolerance: finite(criterion.tolerance * Math.abs(c.scale), what, path) },
        },
        path,
        out,
        deadline,
      );
    }
  }

  private emit(step: Step, path: string, out: Step[], deadline: number | undefined): void {
    // Counting at each emit stops a huge repeat x scan at the first step past the limit.
    if (++this.emitted > MAX_RESOLVED_STEPS) {
      throw new Refusal(
        "StepResolutionLimitExceeded",
        `the request resolves to more than ${MAX_RESOLVED_STEPS} steps`,
        path,
      );
    }
    // A resolved step that breaks the wire schema (e.g. a derived capture_name over 200 chars)
    // could be pinned but never read back, so refuse it here. The parse also copies the step,
    // so unrolled repeats never share objects with the request or with each other.
    const checked = parseStep(deadline === undefined ? step : { ...step, deadline_seconds: deadline });
    if (!checked.ok) throw new Refusal("StepResolutionFailed", `resolved ${step.kind} is invalid: ${checked.message}`, path);
    out.push(checked.step);
  }
}

function countRequested(steps: readonly RequestStep[], prefix: string, counter: { n: number }): string | null {
  for (const [i, step] of steps.entries()) {
    const path = `${prefix}[${i}]`;
    if (++counter.n > MAX_REQUESTED_STEPS) return path;
    if (step.kind === "repeat") {
      const over = countRequested(step.steps, `${path}.steps`, counter);
      if (over !== null) return over;
    }
  }
  return null;
}

/** Resolves a conduct request into the list to pin, or says why it cannot (with the request path at fault). */
export function resolveSteps(request: Request, pseudoaxes: Pseudoaxes): ResolveResult {
  const counter = { n: 0 };
  const over = countRequested(request.steps, "steps", counter) ?? countRequested(request.closing_steps, "closing_steps", counter);
  if (over !== null) {
    return {
      ok: false,
      error_class: "StepResolutionLimitExceeded",
      detail: `the request has more than ${MAX_REQUESTED_STEPS} steps (counting nested repeat steps)`,
      path: over,
    };
  }
  const resolver = new Resolver(pseudoaxes);
  const resolved_steps: Step[] = [];
  const resolved_closing_steps: Step[] = [];
  try {
    resolver.resolveList(request.steps, "steps", resolved_steps);
    resolver.resolveList(request.closing_steps, "closing_steps", resolved_closing_steps);
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, error_class: error.error_class, detail: error.detail, path: error.path };
    throw error;
  }
  return { ok: true, resolved_steps, resolved_closing_steps };
}

// The step kinds of a conduct, as they travel on the wire and as they are
// pinned in `ResolvedStepsRecorded`. The wire form and the in-memory form are
// the same snake_case shape, so the only job of the payload functions is to
// keep that shape canonical (no `undefined` keys, no shared references) so a
// pinned step reads back equal to what was pinned.
import { z } from "zod";
import { JsonObject } from "../json";

const Address = z.string().min(1).max(200);
const Name = z.string().min(1).max(200);

/** The longest step deadline: a week, like the longest stall window. */
export const MAX_DEADLINE_SECONDS = 604800;
/**
 * A step's deadline, start-to-close: from its `in_flight` to its `ok` or
 * `failed`. On a scan or repeat, it passes to every step the request expands
 * to (a nested step's own deadline wins).
 */
const DeadlineSeconds = z
  .int()
  .min(1)
  .max(MAX_DEADLINE_SECONDS)
  .optional()
  .describe("Seconds from this step's in_flight to its ok or failed; past it, the watcher records one StepOverdue decision per attempt");

export const SetpointStepSchema = z.strictObject({
  kind: z.literal("setpoint"),
  address: Address,
  value: z.number(),
  verify: z.boolean(),
  deadline_seconds: DeadlineSeconds,
});

export const ActionStepSchema = z.strictObject({
  kind: z.literal("action"),
  name: Name,
  params: JsonObject,
  deadline_seconds: DeadlineSeconds,
});

export const CriterionSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("equals"),
    expected: z.union([z.number(), z.string(), z.boolean()]),
  }),
  z.strictObject({
    kind: z.literal("within_tolerance"),
    expected: z.number(),
    tolerance: z.number().min(0),
  }),
]);

export const CheckStepSchema = z.strictObject({
  kind: z.literal("check"),
  address: Address,
  criterion: CriterionSchema,
  deadline_seconds: DeadlineSeconds,
});

export const CaptureStepSchema = z.strictObject({
  kind: z.literal("capture"),
  address: Address,
  capture_name: Name,
  deadline_seconds: DeadlineSeconds,
});

export const ComputeStepSchema = z.strictObject({
  kind: z.literal("compute"),
  command: z.array(z.string()).min(1),
  input_uris: z.array(z.string()),
  output_uri: z.string().optional(),
  parameters: JsonObject,
  capture_name: Name.optional(),
  deadline_seconds: DeadlineSeconds,
});

/** A resolved step: what the pinned manifest holds and a gateway executes. */
export const StepSchema = z.discriminatedUnion("kind", [
  SetpointStepSchema,
  ActionStepSchema,
  CheckStepSchema,
  CaptureStepSchema,
  ComputeStepSchema,
]);

export type Step = z.infer<typeof StepSchema>;
export type StepKind = Step["kind"];
export type Criterion = z.infer<typeof CriterionSchema>;

export const STEP_KINDS = ["setpoint", "action", "check", "capture", "compute"] as const satisfies readonly StepKind[];

export const ScanStepSchema = z.strictObject({
  kind: z.literal("scan"),
  address: Address,
  start: z.number(),
  stop: z.number(),
  points: z.int().min(1).max(10_000),
  capture_name: Name.optional(),
  deadline_seconds: DeadlineSeconds,
});

export type ScanStep = z.infer<typeof ScanStepSchema>;
export type RepeatStep = { kind: "repeat"; times: number; steps: RequestStep[]; deadline_seconds?: number | undefined };
/** A requested step: a resolved kind, or a `scan`/`repeat` that resolution expands. */
export type RequestStep = Step | ScanStep | RepeatStep;

export const RepeatStepSchema = z.strictObject({
  kind: z.literal("repeat"),
  times: z.int().min(1).max(1000),
  // The annotation (the hand-written type) breaks the type-level cycle. No
  // count cap here: resolution counts every requested step and answers 422.
  steps: z.array(z.lazy((): z.ZodType<RequestStep> => RequestStepSchema)).min(1),
  deadline_seconds: DeadlineSeconds,
});

/**
 * A requested step. A `z.lazy` at the top on purpose: the OpenAPI generator can only render the
 * recursion through a named schema, and naming this lazy (`.openapi("RequestStep")`) names the
 * instance the recursion refers to.
 */
export const RequestStepSchema = z.lazy(() =>
  z.discriminatedUnion("kind", [
    SetpointStepSchema,
    ActionStepSchema,
    CheckStepSchema,
    CaptureStepSchema,
    ComputeStepSchema,
    ScanStepSchema,
    RepeatStepSchema,
  ]),
);

// Keeps the hand-written types honest: both directions must hold.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const requestStepTypeAgrees: Same<z.infer<typeof RequestStepSchema>, RequestStep> = true;
void requestStepTypeAgrees;

// The 500-requested-steps limit is resolution's (422), not the schema's (400).
export const ConductRequestSchema = z.strictObject({
  steps: z.array(RequestStepSchema).min(1),
  closing_steps: z.array(RequestStepSchema).default(() => []),
  on_failure: z.enum(["abort", "hold"]).default("abort"),
  // The procedure's own stall window for Running, for steps known to run long.
  stale_after_seconds: z
    .int()
    .min(60)
    .max(604800)
    .optional()
    .describe("This procedure's stall window for Running, in seconds, instead of the watcher's STALE_AFTER_SECONDS"),
  on_stall: z
    .enum(["flag", "hold"])
    .default("flag")
    .describe("What the watcher does when it records a Stall of this procedure while Running: `flag` records the decision only; `hold` also places a hold claim with cause `stall`"),
});

export type ConductRequest = z.infer<typeof ConductRequestSchema>;

/** A step as a plain JSON object, the form pinned in events and served to gateways. */
export type StepPayload = Record<string, unknown>;

/** Raised when a stored or received payload is not a step; its message names the offending fields. */
export class StepPayloadError extends Error {
  override readonly name = "StepPayloadError";
}

function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      // defineProperty, not assignment: a "__proto__" key must stay data, not become a prototype.
      Object.defineProperty(out, key, { value: cloneJson(inner), enumerable: true, writable: true, configurable: true });
    }
    return out as T;
  }
  return value;
}

// One canonical construction for both directions: fixed key order, optional
// keys absent rather than undefined, and no references shared with the input.
function canonical(step: Step): Step {
  const shaped = canonicalShape(step);
  if (step.deadline_seconds !== undefined) shaped.deadline_seconds = step.deadline_seconds;
  return shaped;
}

function canonicalShape(step: Step): Step {
  switch (step.kind) {
    case "setpoint":
      return { kind: "setpoint", address: step.address, value: step.value, verify: step.verify };
    case "action":
      return { kind: "action", name: step.name, params: cloneJson(step.params) };
    case "check":
      return { kind: "check", address: step.address, criterion: { ...step.criterion } };
    case "capture":
      return { kind: "capture", address: step.address, capture_name: step.capture_name };
    case "compute": {
      const out: Extract<Step, { kind: "compute" }> = {
        kind: "compute",
        command: [...step.command],
        input_uris: [...step.input_uris],
        parameters: cloneJson(step.parameters),
      };
      if (step.output_uri !== undefined) out.output_uri = step.output_uri;
      if (step.capture_name !== undefined) out.capture_name = step.capture_name;
      return out;
    }
  }
}

/** The wire form of a step; `payloadToStep` is its exact inverse. */
export function stepToPayload(step: Step): StepPayload {
  return canonical(step);
}

/** Validates a payload as a step; the failure message names each offending field. */
export function parseStep(payload: unknown): { ok: true; step: Step } | { ok: false; message: string } {
  const parsed = StepSchema.safeParse(payload);
  if (parsed.success) return { ok: true, step: canonical(parsed.data) };
  const message = parsed.error.issues
    .map((issue) => `${issue.path.length ? issue.path.join(".") : "(payload)"}: ${issue.message}`)
    .join("; ");
  return { ok: false, message };
}

/** Reads a pinned or received payload back into a step, throwing `StepPayloadError` if it is not one. */
export function payloadToStep(payload: unknown): Step {
  const parsed = parseStep(payload);
  if (!parsed.ok) throw new StepPayloadError(`invalid step payload: ${parsed.message}`);
  return parsed.step;
}

// Conduct: resolve the requested steps, pin them and start; the manifest, the
// resume point, a resume from a boundary and the operator's go-ahead.
import { createRoute, z } from "@hono/zod-openapi";
import { manifestSizeError, MAX_RESOLVED_STEPS, referencedAddresses, resolveSteps } from "../conduct/resolve";
import { ConductRequestSchema, RequestStepSchema, StepSchema, stepToPayload, type ConductRequest } from "../conduct/steps";
import { loadPseudoaxes } from "../db/pseudoaxes";
import type { Database } from "../db/client";
import { createRouter } from "./app";
import { requires } from "./auth";
import { ProblemError, problemResponses } from "./problem";
import { actorOf, procedureObject, unwrap } from "./procedure-stub";
import { BEARER, Int, jsonBody, jsonResponse, ProcedureIdParam, procedureResponse, Timestamp } from "./schemas";

// The generator can render the recursive request step only as a named component.
RequestStepSchema.openapi("RequestStep");
const StepPayloadSchema = StepSchema.openapi("Step");

const ConductResultSchema = z
  .object({
    procedure_id: z.uuid(),
    step_count: z.number().int(),
    succeeded: z.boolean(),
    failure: z
      .object({
        source_kind: z.literal("lifecycle"),
        target: z.literal("start"),
        step_index: z.null(),
        error_class: z.string(),
        message: z.string(),
      })
      .nullable(),
  })
  .openapi("ConductResult");

const ManifestSchema = z
  .object({
    resolved_steps: z.array(StepPayloadSchema),
    resolved_closing_steps: z.array(StepPayloadSchema),
    step_count: z.number().int(),
    recorded_at: Timestamp,
  })
  .openapi("Manifest");

const PreviewSchema = z
  .object({
    resolved_steps: z.array(StepPayloadSchema),
    resolved_closing_steps: z.array(StepPayloadSchema),
    step_count: z.number().int(),
  })
  .openapi("ConductPreview");

const StepIndex = Int(0, MAX_RESOLVED_STEPS);

const BoundaryBody = z.strictObject({ re_establishment_boundary: StepIndex }).openapi("ConductFrom");

const ReplaySchema = z
  .object({
    procedure_id: z.uuid(),
    re_establishment_boundary: z.number().int(),
    replay: z.array(z.object({ step_index: z.number().int(), step: StepPayloadSchema, requires_operator: z.boolean() })),
    completed: z.boolean(),
  })
  .openapi("ReplayPlan");

const ResumePointSchema = z
  .object({
    suggested_boundary: z.number().int(),
    in_flight_step_index: z.number().int().nullable(),
    completed_count: z.number().int(),
    step_count: z.number().int(),
  })
  .openapi("ResumePoint");

const conduct = createRoute({
  method: "post",
  path: "/v1/procedures/{id}/conduct",
  operationId: "conductProcedure",
  summary: "Resolve, pin and start a Defined procedure",
  description:
    "Failures-in-body: a procedure that is not Defined answers 200 with a `lifecycle` failure and nothing is pinned. Malformed steps, or a body nested deeper than 64 levels, are 400; a request that resolves beyond the limits is 422.",
  security: BEARER,
  middleware: [requires("ConductProcedure")],
  request: { params: ProcedureIdParam, body: jsonBody(ConductRequestSchema) },
  responses: { 200: jsonResponse("The conduct result", ConductResultSchema), ...problemResponses(400, 401, 403, 404, 409, 413, 415, 422) },
});

const preview = createRoute({
  method: "post",
  path: "/v1/conduct-preview",
  operationId: "previewConduct",
  summary: "Resolve a conduct request without pinning it (a dry run)",
  description:
    "The list a conduct with this body would pin now, resolved with today's pseudoaxes, and the same refusals (400 malformed steps, 422 beyond the limits or unresolvable). Writes nothing and needs no procedure.",
  security: BEARER,
  middleware: [requires("PreviewConduct")],
  request: { body: jsonBody(ConductRequestSchema) },
  responses: { 200: jsonResponse("The steps a conduct would pin", PreviewSchema), ...problemResponses(400, 401, 403, 413, 415, 422) },
});

/**
 * What a conduct request pins: its steps resolved with the pseudoaxes as
 * they are now, refused like conduct itself when they cannot be or are too
 * large. One path for conduct and its preview, so the preview never differs.
 */
async function conductPlan(db: Database, request: ConductRequest) {
  const steps = { steps: request.steps, closing_steps: request.closing_steps };
  const resolved = resolveSteps(steps, await loadPseudoaxes(db, referencedAddresses(steps)));
  if (!resolved.ok) throw new ProblemError(resolved.error_class, `${resolved.path}: ${resolved.detail}`);
  const plan = {
    on_failure: request.on_failure,
    stale_after_seconds: request.stale_after_seconds ?? null,
    on_stall: request.on_stall,
    resolved_steps: resolved.resolved_steps.map(stepToPayload),
    resolved_closing_steps: resolved.resolved_closing_steps.map(stepToPayload),
  };
  const tooLarge = manifestSizeError(JSON.stringify(plan).length);
  if (tooLarge) throw new ProblemError("StepResolutionLimitExceeded", tooLarge);
  return plan;
}

const manifest = createRoute({
  method: "get",
  path: "/v1/procedures/{id}/manifest",
  operationId: "readManifest",
  summary: "Read the pinned step list",
  security: BEARER,
  middleware: [requires("ReadProcedureManifest")],
  request: { params: ProcedureIdParam },
  responses: { 200: jsonResponse("The pinned manifest", ManifestSchema), ...problemResponses(400, 401, 403, 404, 503) },
});

const resumePoint = createRoute({
  method: "get",
  path: "/v1/procedures/{id}/resume-point",
  operationId: "readResumePoint",
  summary: "Suggest a re-establishment boundary",
  description: "The interrupted in-flight step, else the first step without an `ok`.",
  security: BEARER,
  middleware: [requires("ReadProcedureResumePoint")],
  request: { params: ProcedureIdParam },
  responses: { 200: jsonResponse("The suggestion", ResumePointSchema), ...problemResponses(400, 401, 403, 404) },
});

const conductFrom = createRoute({
  method: "post",
  path: "/v1/procedures/{id}/conduct-from",
  operationId: "conductProcedureFrom",
  summary: "Resume a Held procedure from a boundary and get the replay plan",
  description:
    "409 unless Held; a boundary past the end is 400; a boundary equal to the step count completes. Action and compute steps in the replay are marked `requires_operator`.",
  security: BEARER,
  middleware: [requires("ConductProcedureFrom")],
  request: { params: ProcedureIdParam, body: jsonBody(BoundaryBody) },
  responses: { 200: jsonResponse("The replay plan", ReplaySchema), ...problemResponses(400, 401, 403, 404, 409, 413, 415) },
});

const goAhead = createRoute({
  method: "post",
  path: "/v1/procedures/{id}/go-ahead",
  operationId: "authorizeReplayStep",
  summary: "Give the operator's go-ahead for an action or compute step of a replay",
  description: "Until given, a gateway's entries for that step are refused with `AcquisitionResumeRequiresOperator`.",
  security: BEARER,
  middleware: [requires("AuthorizeReplayStep")],
  request: {
    params: ProcedureIdParam,
    body: jsonBody(z.strictObject({ step_index: StepIndex }).openapi("GoAhead")),
  },
  responses: { 200: procedureResponse("The procedure's state"), ...problemResponses(400, 401, 403, 404, 409, 413, 415) },
});

export const conductRoutes = createRouter()
  .openapi(conduct, async (c) => {
    const { id } = c.req.valid("param");
    const plan = await conductPlan(c.var.db, c.req.valid("json"));
    const outcome = await procedureObject(c.env, id).conduct(plan, actorOf(c));
    if (outcome.ok) return c.json({ ...outcome.value, succeeded: true, failure: null }, 200);
    // Failures-in-body: a procedure that is not Defined is a lifecycle failure of
    // the conduct, answered 200 with nothing pinned; anything else is an error.
    const { error_class, detail } = outcome.refusal;
    if (error_class !== "ProcedureCannotStart") throw ProblemError.from(outcome.refusal);
    const failure = { source_kind: "lifecycle", target: "start", step_index: null, error_class, message: detail } as const;
    return c.json({ procedure_id: id, step_count: plan.resolved_steps.length + plan.resolved_closing_steps.length, succeeded: false, failure }, 200);
  })
  .openapi(preview, async (c) => {
    const plan = await conductPlan(c.var.db, c.req.valid("json"));
    // The steps were built from validated input by stepToPayload: the Step schema's own shape.
    type Steps = z.infer<typeof PreviewSchema>["resolved_steps"];
    const resolved_steps = plan.resolved_steps as Steps;
    const resolved_closing_steps = plan.resolved_closing_steps as Steps;
    return c.json({ resolved_steps, resolved_closing_steps, step_count: resolved_steps.length + resolved_closing_steps.length }, 200);
  })
  .openapi(manifest, async (c) => {
    const { id } = c.req.valid("param");
    return c.json(await unwrap(procedureObject(c.env, id).readManifest(actorOf(c))), 200);
  })
  .openapi(resumePoint, async (c) => {
    const { id } = c.req.valid("param");
    return c.json(await unwrap(procedureObject(c.env, id).resumePoint(actorOf(c))), 200);
  })
  .openapi(conductFrom, async (c) => {
    const { id } = c.req.valid("param");
    const { re_establishment_boundary } = c.req.valid("json");
    return c.json(await unwrap(procedureObject(c.env, id).conductFrom(re_establishment_boundary, actorOf(c))), 200);
  })
  .openapi(goAhead, async (c) => {
    const { id } = c.req.valid("param");
    const { step_index } = c.req.valid("json");
    return c.json(await unwrap(procedureObject(c.env, id).authorizeReplayStep(step_index, actorOf(c))), 200);
  });

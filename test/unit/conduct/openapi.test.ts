import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { StepEntryPayloadSchema } from "../../../src/conduct/entries";
import { ConductRequestSchema, RequestStepSchema, StepSchema } from "../../../src/conduct/steps";

// The routes hand these plain-zod schemas to @hono/zod-openapi; this proves the
// document can be generated from them, which a recursion or an unsupported type would break.
function documentFor(requestBody: z.ZodType, responseBody: z.ZodType) {
  const app = new OpenAPIHono();
  const route = createRoute({
    method: "post",
    path: "/x",
    request: { body: { content: { "application/json": { schema: requestBody } } } },
    responses: { 200: { description: "ok", content: { "application/json": { schema: responseBody } } } },
  });
  app.openapi(route, (c) => c.json({}, 200));
  return app.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "t", version: "1" } });
}

describe("conduct schemas in the OpenAPI document", () => {
  it("renders the resolved steps and the step entry inline, with no naming needed", () => {
    const doc = documentFor(StepEntryPayloadSchema, z.object({ resolved_steps: z.array(StepSchema) }));
    const response = doc.paths?.["/x"]?.post?.responses?.[200] as { content: Record<string, { schema: unknown }> };
    const json = JSON.stringify(response.content["application/json"]?.schema);
    for (const kind of ["setpoint", "action", "check", "capture", "compute"]) expect(json).toContain(`["${kind}"]`);
    expect(json).toContain('"params":{"type":"object"');
  });

  it("renders the recursive request once RequestStepSchema is named", () => {
    RequestStepSchema.openapi("RequestStep");
    const doc = documentFor(ConductRequestSchema, z.object({}));
    const requestStep = JSON.stringify(doc.components?.schemas?.RequestStep);
    expect(requestStep).toContain('"steps":{"type":"array","items":{"$ref":"#/components/schemas/RequestStep"}');
    expect(requestStep).toContain('["scan"]');
  });
});

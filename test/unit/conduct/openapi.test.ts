import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { ConductRequestSchema, StepSchema } from "../../../src/conduct/steps";

describe("openapi", () => {
  it("renders", () => {
    const app = new OpenAPIHono();
    const route = createRoute({
      method: "post",
      path: "/conduct",
      request: { body: { content: { "application/json": { schema: StepSchema } } } },
      responses: { 200: { description: "ok", content: { "application/json": { schema: StepSchema } } } },
    });
    app.openapi(route, (c) => c.json({ kind: "setpoint", address: "a", value: 1, verify: true } as const, 200));
    const doc = app.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "t", version: "1" } });
    console.log(JSON.stringify(doc).slice(0, 4000));
    expect(doc).toBeTruthy();
  });
});

import { describe, expect, it } from "vitest";
import { call, expectProblem } from "../helpers";

describe("GET /v1/me", () => {
  it("tells a principal who it is and which roles it holds", async () => {
    const created = await call("/v1/principals", { body: { name: "me-reader", roles: ["reader"] } });
    expect(created.status).toBe(201);
    const result = await call("/v1/me", { token: created.json.token });
    expect(result.status).toBe(200);
    expect(result.json).toEqual({
      principal_id: created.json.principal_id,
      name: "me-reader",
      roles: ["reader"],
      scopes: null,
      expires_at: null,
    });
  });

  it("answers the bootstrap admin too", async () => {
    const result = await call("/v1/me");
    expect(result.status).toBe(200);
    expect(result.json).toMatchObject({ name: "bootstrap-admin", roles: ["admin"] });
  });

  it("refuses a request without a known token", async () => {
    expectProblem(await call("/v1/me", { token: null }), 401, "Unauthenticated");
    expectProblem(await call("/v1/me", { token: "not-a-token-anyone-holds" }), 401, "Unauthenticated");
  });
});

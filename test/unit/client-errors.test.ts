// The client's problems name the request they came from: the problem body's
// request_id, or the X-Request-Id header of an answer that is no problem document.
import { describe, expect, it } from "vitest";
import { problemOf } from "../../clients/typescript/src/errors.ts";

describe("problemOf", () => {
  it("keeps the problem body's request_id", async () => {
    const body = { type: "t", title: "Conflict", status: 409, detail: "d", error_class: "ProcedureCannotHold", request_id: "r-1" };
    const error = await problemOf(new Response(JSON.stringify(body), { status: 409, headers: { "content-type": "application/problem+json", "x-request-id": "r-1" } }));
    expect([error.error_class, error.request_id]).toEqual(["ProcedureCannotHold", "r-1"]);
  });

  it("takes the X-Request-Id header for an answer that is not a problem, and null without one", async () => {
    const proxied = await problemOf(new Response("<h1>bad gateway</h1>", { status: 502, headers: { "content-type": "text/html", "x-request-id": "r-2" } }));
    expect([proxied.error_class, proxied.request_id]).toEqual(["UnexpectedResponse", "r-2"]);
    expect((await problemOf(new Response("down", { status: 503 }))).request_id).toBeNull();
  });
});

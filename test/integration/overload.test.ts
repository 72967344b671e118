// A procedure's object that is overloaded (or briefly unavailable) is the
// runtime's to report, not a fault of the service: the request answers 503
// ServiceOverloaded with Retry-After, never a bare 500. The object's namespace
// is replaced by one whose stubs throw the errors the runtime throws. A
// configuration that does not validate is a 500 whose log line names it.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { uuidv7 } from "../../src/ids";
import { ADMIN_TOKEN, expectProblem } from "../helpers";
import { logLines } from "../ops-helpers";

/** A namespace whose every object call fails with `error`. */
function failingNamespace(error: Error): DurableObjectNamespace {
  const stub = new Proxy({}, { get: () => () => Promise.reject(error) });
  return { idFromName: (name: string) => env.PROCEDURES.idFromName(name), get: () => stub } as unknown as DurableObjectNamespace;
}

function runtimeError(message: string, flags: { overloaded?: boolean; retryable?: boolean }): Error {
  return Object.assign(new Error(message), flags);
}

async function fetchWith(namespace: DurableObjectNamespace, path: string, init: RequestInit = {}, vars: Record<string, string> = {}) {
  const ctx = createExecutionContext();
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.body ? { "content-type": "application/json" } : {}) };
  const response = await worker.fetch(new Request(`http://procedure-edge.test${path}`, { ...init, headers }), { ...env, ...vars, PROCEDURES: namespace }, ctx);
  await waitOnExecutionContext(ctx);
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: text ? JSON.parse(text) : undefined };
}

describe("an overloaded procedure object", () => {
  it.each([
    ["overloaded", { overloaded: true, retryable: false }],
    ["retryable", { retryable: true }],
  ])("answers 503 ServiceOverloaded with Retry-After when the object's error is %s", async (_, flags) => {
    const namespace = failingNamespace(runtimeError("Durable Object is overloaded. Too many requests queued.", flags));
    const read = await fetchWith(namespace, `/v1/procedures/${uuidv7()}`);
    expectProblem(read, 503, "ServiceOverloaded");
    expect(Number(read.headers.get("retry-after"))).toBeGreaterThan(0);
    const held = await fetchWith(namespace, `/v1/procedures/${uuidv7()}/hold`, { method: "POST", body: JSON.stringify({ reason: "door" }) });
    expectProblem(held, 503, "ServiceOverloaded");
    expect(held.headers.get("retry-after")).toBe(read.headers.get("retry-after"));
  });

  it("still answers any other object failure as a bare 500", async () => {
    const result = await fetchWith(failingNamespace(new Error("storage exploded")), `/v1/procedures/${uuidv7()}`);
    expectProblem(result, 500, "InternalError");
    expect(result.headers.get("retry-after")).toBeNull();
    expect(result.text).not.toContain("storage exploded");
  });
});

describe("a Worker whose configuration is invalid", () => {
  it("answers 500 saying so, and its log line names the variable and what it must be", async () => {
    let result: Awaited<ReturnType<typeof fetchWith>> | undefined;
    const lines = await logLines(async () => {
      result = await fetchWith(env.PROCEDURES as unknown as DurableObjectNamespace, `/v1/procedures/${uuidv7()}`, {}, { ADMIN_TOKEN: "another-token" });
    });
    expectProblem(result!, 500, "InternalError");
    expect(result!.json.detail).toBe("the service's configuration is invalid; its log names the variable");
    const logged = lines.find((line) => line.msg === "unhandled error");
    expect(logged?.error).toMatch(/^ConfigurationError: the Worker's configuration is invalid: ADMIN_TOKEN must be at least 16 characters/);
  });
});

// The document the TypeScript client's types are generated from is the one
// the service serves: `npm run client:generate` writes it through this very
// assertion (vitest --update), then generates the types from it.
import { expect, it } from "vitest";
import { call } from "../helpers";

it("the client's committed OpenAPI document is the one the service serves", async () => {
  const served = await call("/openapi.json", { token: null });
  expect(served.status).toBe(200);
  await expect(`${JSON.stringify(served.json, null, 2)}\n`, "run `npm run client:generate` and commit the result").toMatchFileSnapshot(
    "../../clients/typescript/openapi.json",
  );
});

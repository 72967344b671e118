/// <reference types="vite/client" />
// The client's types (src/openapi.ts) were generated from its committed
// OpenAPI document (checked against the served one in client-openapi.test.ts)
// and not edited since: the generator's header records both hashes.
import { expect, it } from "vitest";
import documentText from "../../clients/typescript/openapi.json?raw";
import typesText from "../../clients/typescript/src/openapi.ts?raw";
import { sha256Hex } from "../../src/encoding";

const REGENERATE = "run `npm run client:generate` and commit the result";

it("the client's generated types are those of its committed OpenAPI document, unedited", async () => {
  const header = /^\/\/ document sha256: ([0-9a-f]{64})\n\/\/ types sha256: ([0-9a-f]{64})\n/m.exec(typesText);
  expect(header, REGENERATE).not.toBeNull();
  const body = typesText.slice(header!.index + header![0].length);
  expect(header![1], REGENERATE).toBe(await sha256Hex(documentText));
  expect(header![2], REGENERATE).toBe(await sha256Hex(body));
});

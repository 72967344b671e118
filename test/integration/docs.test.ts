// docs/api.md is the readable form of what the service serves: it must name
// every operation of the served document and every error class with the status
// it answers, and document nothing the service does not serve, so the page
// cannot drift from the code unnoticed.
import { describe, expect, it } from "vitest";
import apiPage from "../../docs/api.md?raw";
import { ERROR_CLASSES } from "../../src/errors";
import { HTTP_STATUS } from "../../src/api/problem";
import { call } from "../helpers";

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"];

async function servedOperations(): Promise<string[]> {
  const result = await call("/openapi.json", { token: null });
  expect(result.status).toBe(200);
  const paths = (result.json as { paths: Record<string, Record<string, unknown>> }).paths;
  return Object.entries(paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((method) => METHODS.includes(method))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );
}

/** The operations the page gives a section of their own: headings like "#### `POST /v1/procedures`". */
function documentedOperations(page: string): string[] {
  return [...page.matchAll(/^#{2,6} `([A-Z]+ \/[^`]*)`\s*$/gm)].map((match) => match[1]!);
}

/** The error classes of the page's table, with the status each row gives. */
function documentedClasses(page: string): Map<string, number> {
  return new Map([...page.matchAll(/^\| `([A-Za-z]+)` \| (\d{3}) \|/gm)].map((match) => [match[1]!, Number(match[2])]));
}

describe("docs/api.md", () => {
  it("has a section for every operation of the served OpenAPI document", async () => {
    const served = await servedOperations();
    expect(served.length).toBeGreaterThan(0);
    const documented = new Set(documentedOperations(apiPage));
    expect(served.filter((operation) => !documented.has(operation))).toEqual([]);
  });

  it("documents no operation the service does not serve", async () => {
    const served = new Set(await servedOperations());
    expect(documentedOperations(apiPage).filter((operation) => !served.has(operation))).toEqual([]);
  });

  it("lists every error class once, with the status it answers, and no other", () => {
    const documented = documentedClasses(apiPage);
    const expected = new Map(ERROR_CLASSES.map((errorClass) => [errorClass, HTTP_STATUS[errorClass]]));
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(expected));
    const rows = [...apiPage.matchAll(/^\| `([A-Za-z]+)` \| \d{3} \|/gm)].length;
    expect(rows).toBe(ERROR_CLASSES.length);
  });
});

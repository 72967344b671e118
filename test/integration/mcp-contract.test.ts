// The slice contract: every operation of the served document is an MCP tool
// (the live stream and its ticket excepted), and every tool is an operation.
// A route added without its tool, or a tool left behind by a removed route,
// fails here.
import { describe, expect, it } from "vitest";
import { call } from "../helpers";
import { mcpClient } from "../mcp-helpers";
import { snakeCase } from "../../src/mcp/tools";

/** Operations a tool call cannot serve: a live stream has no single result, and its ticket only opens one. */
const NOT_TOOLS = ["streamProcedure", "issueStreamTicket"];

type Doc = { paths: Record<string, Record<string, { operationId: string }>> };

describe("the slice contract", () => {
  it("has a tool for every /v1 operation of the served document, and no tool without one", async () => {
    const doc = (await call("/openapi.json", { token: null })).json as Doc;
    const operations = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith("/v1/"))
      .flatMap(([, methods]) => Object.values(methods).map((op) => op.operationId));
    expect(operations).toEqual(expect.arrayContaining(NOT_TOOLS));
    const expected = operations.filter((id) => !NOT_TOOLS.includes(id)).map(snakeCase).sort();
    const { tools } = await (await mcpClient()).listTools();
    const listed = tools.map((tool) => tool.name).sort();
    expect(listed, "tools without an operation").toEqual(expect.arrayContaining(expected));
    expect(expected, "operations without a tool").toEqual(expect.arrayContaining(listed));
    expect(new Set(listed).size, "two operations share a tool name").toBe(listed.length);
  });

  it("does not serve /mcp as an operation of the document", async () => {
    const doc = (await call("/openapi.json", { token: null })).json as Doc;
    expect(Object.keys(doc.paths)).not.toContain("/mcp");
  });
});

// MCP tools derived from the served OpenAPI document: every /v1 operation is a
// tool (the live stream and its ticket excepted), named by its operationId in
// snake_case, whose input schema merges the operation's path, query, header and
// body fields, and whose output schema is the operation's JSON answer. Nothing here is listed by hand, so a route added to the document
// is a tool on the next deploy, and the slice-contract test keeps it so.
// Pure: it reads a document and knows nothing of Workers or Hono.

/** The subset of an OpenAPI 3.1 document the derivation reads. */
export interface OpenApiDocument {
  paths?: Record<string, Record<string, unknown>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

export type JsonSchema = Record<string, unknown>;

interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  description?: string;
  schema?: JsonSchema;
}

interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> };
  responses?: Record<string, { content?: Record<string, unknown> }>;
}

/** Where each argument of a tool goes in the request its route takes. */
export interface ArgumentPlacement {
  path: string[];
  query: string[];
  /** Argument name -> header name (`idempotency_key` -> `idempotency-key`). */
  headers: Record<string, string>;
  /** The body's own fields are arguments; or, when the body is not an object or a field's name is taken, the body is the `body` argument. */
  body: { fields: string[] } | { whole: "body" } | null;
}

export interface ToolAnnotations {
  title?: string;
  readOnlyHint: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint: false;
}

/** One tool: the MCP face of one operation. */
export interface ToolSpec {
  name: string;
  operationId: string;
  method: string;
  /** The OpenAPI path, `{name}` placeholders for path fields. */
  path: string;
  title?: string;
  description: string;
  inputSchema: JsonSchema & { type: "object" };
  /** What a successful call returns as structured content; absent when the operation answers no JSON object. */
  outputSchema?: JsonSchema & { type: "object" };
  annotations: ToolAnnotations;
  placement: ArgumentPlacement;
}

const METHODS = ["get", "put", "post", "delete", "patch"] as const;

/**
 * Operations that are not tools: a live stream has no single result for a tool
 * call to return, and its ticket only opens a stream. A stream is recognised by
 * its event-stream response; the ticket by name.
 */
const STREAM_TICKET_PATH = /\/stream-ticket$/;

function isLiveStream(operation: Operation): boolean {
  return Object.values(operation.responses ?? {}).some((response) => response.content?.["text/event-stream"] !== undefined);
}

/** True for an operation of the document that is an MCP tool. */
export function isToolOperation(path: string, operation: Operation): boolean {
  return path.startsWith("/v1/") && !isLiveStream(operation) && !STREAM_TICKET_PATH.test(path);
}

/** `holdProcedure` -> `hold_procedure`. */
export function snakeCase(operationId: string): string {
  return operationId
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/[-\s]+/g, "_")
    .toLowerCase();
}

/** Ends an operation by choice and for good: the record keeps it, nothing undoes it. */
const DESTRUCTIVE_OPERATIONS = new Set(["abortProcedure", "truncateProcedure", "revokePrincipal", "rotatePrincipal"]);

/** The MCP hints, from the method and the operation's meaning. */
function annotationsOf(method: string, operation: Operation): ToolAnnotations {
  const title = operation.summary;
  if (method === "get") return { ...(title ? { title } : {}), readOnlyHint: true, openWorldHint: false };
  return {
    ...(title ? { title } : {}),
    readOnlyHint: false,
    destructiveHint: method === "delete" || DESTRUCTIVE_OPERATIONS.has(operation.operationId ?? ""),
    // PUT and DELETE say so in HTTP itself: the same call again changes nothing more.
    idempotentHint: method === "put" || method === "delete",
    openWorldHint: false,
  };
}

/** A schema with every `#/components/schemas/...` reference replaced by its target (MCP input schemas stand alone). */
export function inlineRefs(schema: unknown, components: Record<string, JsonSchema>, seen: readonly string[] = []): unknown {
  if (Array.isArray(schema)) return schema.map((item) => inlineRefs(item, components, seen));
  if (schema === null || typeof schema !== "object") return schema;
  const record = schema as Record<string, unknown>;
  const ref = record.$ref;
  if (typeof ref === "string" && ref.startsWith("#/components/schemas/")) {
    const name = ref.slice("#/components/schemas/".length);
    const target = components[name];
    // A cycle (none today) stays an open object rather than recursing forever.
    if (!target || seen.includes(name)) return { type: "object" };
    const { $ref: _ref, ...rest } = record;
    return { ...(inlineRefs(target, components, [...seen, name]) as object), ...rest };
  }
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, inlineRefs(value, components, seen)]));
}

function bodySchemaOf(operation: Operation, components: Record<string, JsonSchema>): JsonSchema | undefined {
  const schema = operation.requestBody?.content?.["application/json"]?.schema;
  return schema ? (inlineRefs(schema, components) as JsonSchema) : undefined;
}

/** Whether a schema accepts only JSON objects: `type: object`, or an `allOf` with such a part (how an extended schema is rendered). */
function describesObject(schema: JsonSchema): boolean {
  if (schema.type === "object") return true;
  return Array.isArray(schema.allOf) && schema.allOf.some((part) => describesObject(part as JsonSchema));
}

/**
 * The schema of a successful call's structured content: the operation's JSON
 * answer, when every success it documents is a JSON object (an MCP output
 * schema describes an object). None for an answer without a body, a list, or
 * another media type (a JSON Lines export).
 */
function outputSchemaOf(operation: Operation, components: Record<string, JsonSchema>): (JsonSchema & { type: "object" }) | undefined {
  const successes = Object.entries(operation.responses ?? {}).filter(([status]) => /^2\d\d$/.test(status));
  const schemas: JsonSchema[] = [];
  for (const [, response] of successes) {
    const schema = (response.content?.["application/json"] as { schema?: JsonSchema } | undefined)?.schema;
    const inlined = schema ? (inlineRefs(schema, components) as JsonSchema) : undefined;
    if (!inlined || !describesObject(inlined)) return undefined;
    schemas.push({ type: "object", ...inlined });
  }
  const distinct = [...new Map(schemas.map((schema) => [JSON.stringify(schema), schema])).values()];
  if (distinct.length === 0) return undefined;
  return distinct.length === 1 ? (distinct[0] as JsonSchema & { type: "object" }) : { type: "object", anyOf: distinct };
}

function describedAs(schema: JsonSchema | undefined, description: string | undefined): JsonSchema {
  const base = schema ?? {};
  return description && base.description === undefined ? { ...base, description } : base;
}

/** The tool for one operation. */
export function toolFor(path: string, method: string, operation: Operation, components: Record<string, JsonSchema>): ToolSpec {
  const operationId = operation.operationId ?? `${method}${path}`;
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  const placement: ArgumentPlacement = { path: [], query: [], headers: {}, body: null };

  for (const parameter of operation.parameters ?? []) {
    if (parameter.in === "cookie") continue;
    const name = parameter.in === "header" ? parameter.name.toLowerCase().replace(/-/g, "_") : parameter.name;
    properties[name] = describedAs(inlineRefs(parameter.schema, components) as JsonSchema | undefined, parameter.description);
    if (parameter.required || parameter.in === "path") required.push(name);
    if (parameter.in === "path") placement.path.push(name);
    else if (parameter.in === "query") placement.query.push(name);
    else placement.headers[name] = parameter.name.toLowerCase();
  }

  const body = bodySchemaOf(operation, components);
  if (body) {
    const fields = body.type === "object" && body.properties && typeof body.properties === "object" ? (body.properties as Record<string, JsonSchema>) : undefined;
    const taken = fields ? Object.keys(fields).some((field) => field in properties || field === "body") : true;
    if (fields && !taken) {
      Object.assign(properties, fields);
      const bodyRequired = Array.isArray(body.required) ? (body.required as string[]) : [];
      required.push(...bodyRequired);
      placement.body = { fields: Object.keys(fields) };
    } else {
      properties.body = body;
      if (operation.requestBody?.required) required.push("body");
      placement.body = { whole: "body" };
    }
  }

  const description = [operation.summary, operation.description].filter(Boolean).join(". ") || `${method.toUpperCase()} ${path}`;
  const outputSchema = outputSchemaOf(operation, components);
  return {
    name: snakeCase(operationId),
    operationId,
    method: method.toUpperCase(),
    path,
    ...(operation.summary ? { title: operation.summary } : {}),
    description,
    inputSchema: { type: "object", properties, ...(required.length > 0 ? { required: [...new Set(required)] } : {}) },
    ...(outputSchema ? { outputSchema } : {}),
    annotations: annotationsOf(method, operation),
    placement,
  };
}

/** Every tool of the document, in the document's order. */
export function deriveTools(document: OpenApiDocument): ToolSpec[] {
  const components = document.components?.schemas ?? {};
  const tools: ToolSpec[] = [];
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item[method] as Operation | undefined;
      if (operation && isToolOperation(path, operation)) tools.push(toolFor(path, method, operation, components));
    }
  }
  return tools;
}

// A tool call becomes the REST request its operation takes, sent through the
// same app: authentication, the role grant, scopes, rate limits, validation,
// idempotency and audit apply to it exactly as to a request from outside,
// because it is one. Nothing here decides anything about authorization.
import { validationFailed } from "../api/problem";
import { REQUEST_ID_HEADER } from "../observability/request-id";
import type { ToolSpec } from "./tools";

/** What a dispatched request carries over from the /mcp request. */
export interface Caller {
  /** The /mcp request's origin: the internal request goes to the same app under it. */
  origin: string;
  authorization: string;
  /** The /mcp request's id: every request a tool call dispatches carries it, so its log lines and events name it too. */
  requestId: string;
}

/** The REST answer to a tool call: its status and body (parsed when JSON). */
export interface RestAnswer {
  status: number;
  contentType: string;
  body: unknown;
  text: string;
}

export type AppFetch = (request: Request) => Promise<Response>;

function queryValue(value: unknown): string {
  return typeof value === "string" ? value : typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
}

/**
 * The request a tool call stands for. Arguments the tool does not name go where
 * the route will judge them (the body when it takes one, else the query), so
 * its own schema refuses them as it refuses them over REST.
 */
export function requestFor(tool: ToolSpec, args: Record<string, unknown>, caller: Caller): Request {
  let path = tool.path;
  for (const name of tool.placement.path) {
    const value = args[name];
    if (typeof value !== "string" && typeof value !== "number") {
      throw validationFailed("arguments", [{ path: [name], message: "required: a string" }]);
    }
    // A dot segment would be resolved away by the URL and reach another route.
    if (value === "." || value === "..") {
      throw validationFailed("arguments", [{ path: [name], message: "must not be a dot segment" }]);
    }
    path = path.replace(`{${name}}`, encodeURIComponent(String(value)));
  }
  const url = new URL(path, caller.origin);
  const headers = new Headers({ authorization: caller.authorization, [REQUEST_ID_HEADER]: caller.requestId });
  const placed = new Set([...tool.placement.path, ...tool.placement.query, ...Object.keys(tool.placement.headers)]);
  const body = tool.placement.body;
  let payload: unknown;
  if (body && "whole" in body) {
    payload = args[body.whole];
    placed.add(body.whole);
  } else if (body) {
    payload = Object.fromEntries(body.fields.filter((field) => args[field] !== undefined).map((field) => [field, args[field]]));
    for (const field of body.fields) placed.add(field);
  }
  const unplaced = Object.entries(args).filter(([name]) => !placed.has(name));
  const query = [...tool.placement.query.map((name) => [name, args[name]] as const), ...(body ? [] : unplaced)];
  for (const [name, value] of query) {
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, queryValue(item));
  }
  if (body && "fields" in body && unplaced.length > 0) payload = { ...(payload as object), ...Object.fromEntries(unplaced) };
  for (const [name, header] of Object.entries(tool.placement.headers)) {
    const value = args[name];
    if (value !== undefined && value !== null) headers.set(header, queryValue(value));
  }
  if (body) headers.set("content-type", "application/json");
  return new Request(url, { method: tool.method, headers, body: body ? JSON.stringify(payload ?? null) : undefined });
}

/** Sends the tool call's request through the app and reads the answer. */
export async function dispatch(fetch: AppFetch, request: Request): Promise<RestAnswer> {
  const response = await fetch(request);
  const contentType = response.headers.get("content-type") ?? "";
  // Decoded by hand: workerd warns when .text() reads a body whose type is not text (the export's JSON Lines).
  const text = new TextDecoder().decode(await response.arrayBuffer());
  let body: unknown = text;
  // JSON and problem+json bodies are parsed; JSON Lines (the export) stays text, never a parse bound to fail.
  if (/^application\/(?:[\w.-]+\+)?json\b/.test(contentType) && text !== "") {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  return { status: response.status, contentType, body, text };
}

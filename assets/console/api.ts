// The console's only way to the service: the public API, with the same bearer
// token any client presents. Every refusal arrives as a problem.

import type { ErrorClass } from "./types";

export interface Problem {
  title: string;
  status: number;
  detail: string;
  /** The service's class of refusal; absent when the answer was not the service's problem document. */
  error_class?: ErrorClass;
  errors?: Array<{ path: string; message: string }>;
  /** The request's id, to quote when reporting the problem. */
  request_id?: string;
}

/** A refused or failed request, carrying the problem the service answered. */
export class ApiProblem extends Error {
  constructor(readonly problem: Problem) {
    super(`${problem.title}: ${problem.detail}`);
  }
}

function asProblem(body: unknown, status: number, fallback: string): Problem {
  if (typeof body === "object" && body !== null && "title" in body && "detail" in body) {
    const p = body as Problem;
    return { title: String(p.title), status, detail: String(p.detail), error_class: p.error_class, errors: p.errors, request_id: p.request_id };
  }
  // Not a problem document (a proxy's error page, say): show its status, never its raw body.
  return { title: fallback || `HTTP ${status}`, status, detail: `The service answered ${status}.` };
}

type Method = "GET" | "POST" | "PUT" | "DELETE";

export type Api = <T>(method: Method, path: string, body?: unknown) => Promise<T>;

/** A client bound to one bearer token. */
export function apiClient(token: string): Api {
  return async <T>(method: Method, path: string, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      throw new ApiProblem({ title: "Service unreachable", status: 0, detail: error instanceof Error ? error.message : String(error) });
    }
    const text = await response.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) throw new ApiProblem(asProblem(parsed, response.status, response.statusText));
    return parsed as T;
  };
}

/** A query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : "";
}

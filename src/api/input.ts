// Input every route shares, checked once before any route reads it: the URL's
// %-escapes, and a JSON body's encoding, nesting and surrogates. A lone
// surrogate would be kept by a procedure's object but turned into U+FFFD by D1,
// so the list and the procedure would disagree; refusing it here covers every
// string field of every route at once. Header values are byte strings and
// cannot carry one.
import { createMiddleware } from "hono/factory";
import { jsonTextProblem } from "../json";
import type { AppEnv } from "./context";
import { ProblemError } from "./problem";

// The media types the route validators read as JSON (hono's own test).
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

function urlProblem(url: string): string | null {
  const { pathname, search } = new URL(url);
  try {
    // Throws on a %-escape that is not UTF-8, which the router would otherwise keep verbatim.
    decodeURIComponent(pathname + search.replaceAll("+", " "));
    return null;
  } catch {
    return "the URL holds a %-escape that is not UTF-8";
  }
}

/** 400 for an ill-formed URL or JSON body. The body stays cached on the request for the route's validator. */
export const wellFormedInput = createMiddleware<AppEnv>(async (c, next) => {
  const urlIssue = urlProblem(c.req.url);
  if (urlIssue) throw new ProblemError("IllFormedInput", urlIssue);
  const mediaType = (c.req.header("content-type") ?? "").split(";")[0]!.trim();
  if (c.req.raw.body !== null && JSON_MEDIA_TYPE.test(mediaType)) {
    const bytes = await c.req.arrayBuffer();
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw new ProblemError("IllFormedInput", "the body is not valid UTF-8");
    }
    const problem = jsonTextProblem(text);
    if (problem) throw new ProblemError(problem.kind === "depth" ? "NestingTooDeep" : "IllFormedInput", problem.detail);
  }
  await next();
});

/**
 * For a route whose JSON body is optional: an empty body (no bytes, or only whitespace) is
 * no body, whatever `Content-Type` says, as a client that always sends the header expects.
 */
export const emptyBodyIsNone = createMiddleware<AppEnv>(async (c, next) => {
  const raw = c.req.raw;
  if (raw.body !== null && new TextDecoder().decode(await c.req.arrayBuffer()).trim() === "") {
    const headers = new Headers(raw.headers);
    headers.delete("content-type");
    c.req.raw = new Request(raw.url, { method: raw.method, headers });
  }
  await next();
});

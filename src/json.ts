// What JSON the service accepts, in one place: how deep a request body and a
// free-form field (an entry's payload, an action's params, a compute's
// parameters) may nest, and which strings are well-formed. Deep values are
// refused before anything recursive touches them: the schema parser, a copy,
// or the structured clone of an RPC call would otherwise overflow the stack.
import { z } from "zod";

/** How deep a free-form JSON field may nest, counting the field itself as level 0. */
export const MAX_JSON_DEPTH = 32;
/**
 * How deep a whole request body may nest (brackets). Leaves room for a free-form field at its
 * full depth inside a conduct of a dozen nested repeats; far below what a parser overflows at.
 */
export const MAX_BODY_DEPTH = 64;

/** Why `value` is not JSON that survives storage unchanged, or null when it is. */
export function jsonProblem(value: unknown, depth = 0): string | null {
  if (depth > MAX_JSON_DEPTH) return `nests deeper than ${MAX_JSON_DEPTH} levels`;
  if (value === null || typeof value === "string" || typeof value === "boolean") return null;
  if (typeof value === "number") return Number.isFinite(value) ? null : "holds a non-finite number";
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = jsonProblem(item, depth + 1);
      if (problem !== null) return problem;
    }
    return null;
  }
  if (typeof value !== "object") return `holds a value of type ${typeof value}, which JSON cannot carry`;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return "holds a non-plain object";
  for (const [key, inner] of Object.entries(value)) {
    if (key === "__proto__") return "uses the reserved key __proto__";
    const problem = jsonProblem(inner, depth + 1);
    if (problem !== null) return problem;
  }
  return null;
}

/**
 * Any JSON object, nested at most `MAX_JSON_DEPTH` levels. Not `z.json()`: its anonymous recursion
 * cannot be rendered into the OpenAPI document, and a record silently drops a `__proto__` key
 * where this refuses it.
 */
export const JsonObject = z.preprocess((input, ctx) => {
  const problem = typeof input === "object" && input !== null && !Array.isArray(input) ? jsonProblem(input) : null;
  if (problem !== null) ctx.addIssue({ code: "custom", message: `not a JSON object: ${problem}`, input });
  return input;
}, z.record(z.string(), z.unknown()));

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isHigh = (unit: number) => unit >= 0xd800 && unit <= 0xdbff;
const isLow = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff;

export type JsonTextProblem = { kind: "depth" | "surrogate"; detail: string };

const LONE_SURROGATE: JsonTextProblem = { kind: "surrogate", detail: "the JSON holds a lone surrogate escape" };

/**
 * Why a JSON text must be refused before it is parsed, or null: brackets nested deeper than
 * `maxDepth`, or a `\u` escape that leaves a lone surrogate. One iterative pass, so it cannot
 * overflow whatever the input. The text itself is assumed decoded from valid UTF-8 (which has no
 * lone surrogates); malformed JSON is left to the parser.
 */
export function jsonTextProblem(text: string, maxDepth: number = MAX_BODY_DEPTH): JsonTextProblem | null {
  let depth = 0;
  let inString = false;
  // A high surrogate escape seen last, still waiting for its low half.
  let pendingHigh = false;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (!inString) {
      if (unit === QUOTE) inString = true;
      else if (unit === 0x7b || unit === 0x5b) {
        if (++depth > maxDepth) return { kind: "depth", detail: `the JSON nests deeper than ${maxDepth} levels` };
      } else if (unit === 0x7d || unit === 0x5d) depth--;
      continue;
    }
    if (unit === BACKSLASH) {
      const escaped = text.charCodeAt(i + 1);
      if (escaped === 0x75 /* u */) {
        const code = Number.parseInt(text.slice(i + 2, i + 6), 16);
        if (pendingHigh !== isLow(code)) return LONE_SURROGATE;
        pendingHigh = isHigh(code);
        i += 5;
        continue;
      }
      if (pendingHigh) return LONE_SURROGATE;
      i += 1;
      continue;
    }
    if (pendingHigh) return LONE_SURROGATE;
    if (unit === QUOTE) inString = false;
  }
  return null;
}

/** The length of `text` in UTF-8 bytes, without encoding it. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (isHigh(unit) && isLow(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

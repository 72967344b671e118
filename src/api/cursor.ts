// Opaque keyset cursors: base64url JSON of the last row's sort key, checked
// against a schema on the way back in.
import type { z } from "@hono/zod-openapi";
import { fromBase64Url, toBase64Url } from "../encoding";
import { ProblemError } from "./problem";

export function encodeCursor(key: object): string {
  return toBase64Url(JSON.stringify(key));
}

/** The sort key a cursor carries; 400 for anything this service did not issue. */
export function decodeCursor<T extends z.ZodType>(cursor: string, schema: T): z.infer<T> {
  let value: unknown;
  try {
    value = JSON.parse(fromBase64Url(cursor));
  } catch {
    value = undefined;
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ProblemError("InvalidCursor", "the cursor is not one this service issued");
  return parsed.data;
}

// procedure-edge's TypeScript client: typed calls generated from the
// service's OpenAPI document, and an activity writer for gateways.
export { ActivityWriter, MAX_BATCH, type ActivityWriterOptions, type Extra } from "./activity-writer.ts";
export { createClient, ProcedureEdgeClient } from "./client.ts";
export { systemClock, type Clock } from "./clock.ts";
export { isProblem, NetworkError, ProblemError, type ClientProblem, type ErrorClass } from "./errors.ts";
export { Transport, type ClientOptions, type RetryMode } from "./http.ts";
export type { components, paths } from "./openapi.ts";
export { ProcedureHandle } from "./procedure.ts";
export { backoffMs, DEFAULT_RETRY, retryAfterMs, type RetryPolicy } from "./retry.ts";
export type * from "./types.ts";
export { uuidv7Generator } from "./uuidv7.ts";
export { parseFrames, type Following, type StreamMessage } from "./follow.ts";

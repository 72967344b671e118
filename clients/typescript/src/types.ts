// Names for the shapes of the generated OpenAPI types (openapi.ts), so that
// callers and the ergonomic layer never spell out a path into `paths`.
import type { components, paths } from "./openapi.ts";

type Schemas = components["schemas"];

export type Procedure = Schemas["Procedure"];
export type ProcedureStatus = Procedure["status"];
export type Manifest = Schemas["Manifest"];
export type Step = Schemas["Step"];
export type RequestStep = Schemas["RequestStep"];
export type ConductResult = Schemas["ConductResult"];
export type ReplayPlan = Schemas["ReplayPlan"];
export type ResumePoint = Schemas["ResumePoint"];
export type ActivityEntryInput = Schemas["ActivityEntryInput"];
export type ActivityEntry = Schemas["ActivityEntry"];
export type ProcedureEvent = Schemas["ProcedureEvent"];
export type Problem = Schemas["Problem"];
export type HoldCause = NonNullable<Schemas["HoldProcedure"]["cause"]>;

export type Method = "get" | "put" | "post" | "delete";

/** The paths that have an operation for `M`. */
export type PathWith<M extends Method> = { [P in keyof paths]: paths[P][M] extends undefined | never ? never : P }[keyof paths];

type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
type JsonOf<R> = R extends { content: { "application/json": infer T } } ? T : undefined;

/** The JSON body a route answers on success (200 or 201). */
export type ResponseOf<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { responses: infer R }
    ? R extends { 200: infer OK } ? JsonOf<OK> : R extends { 201: infer Created } ? JsonOf<Created> : undefined
    : never;

/** The JSON body a route takes, or undefined when it takes none. */
export type BodyOf<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { requestBody: { content: { "application/json": infer B } } }
    ? B
    : Operation<P, M> extends { requestBody?: { content: { "application/json": infer B } } }
      ? B | undefined
      : undefined;

/** The query a route takes. */
export type QueryOf<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

export type ConductRequest = NonNullable<BodyOf<"/v1/procedures/{id}/conduct", "post">>;
export type RegisterRequest = NonNullable<BodyOf<"/v1/procedures", "post">>;
export type AppendResult = ResponseOf<"/v1/procedures/{id}/activities", "post">;
export type Page<T> = { items: T[]; next_cursor: string | null };

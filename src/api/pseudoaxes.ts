// Pseudoaxes: virtual axes that resolve into setpoints on real addresses.
import { createRoute, z } from "@hono/zod-openapi";
import { findPseudoaxis, savePseudoaxis } from "../db/pseudoaxes";
import { uuidv7 } from "../ids";
import { createRouter } from "./app";
import { requires } from "./auth";
import { ProblemError, problemResponses } from "./problem";
import { BEARER, Timestamp, jsonBody, jsonResponse } from "./schemas";

const Address = z.string().min(1).max(200);

const NameParam = z.object({
  name: Address.regex(/^[A-Za-z0-9_.:\/-]+$/, "letters, digits and _ . : / - only").openapi({
    param: { name: "name", in: "path" },
    example: "sample_theta",
  }),
});

const Constituent = z.strictObject({ address: Address, scale: z.number().finite(), offset: z.number().finite() });

const DefinitionBody = z.strictObject({ constituents: z.array(Constituent).min(1).max(32) }).openapi("PseudoaxisDefinition");

const PseudoaxisSchema = z
  .object({ name: z.string(), constituents: z.array(Constituent), updated_at: Timestamp, updated_by: z.string() })
  .openapi("Pseudoaxis");

const response = jsonResponse("The definition", PseudoaxisSchema);

const put = createRoute({
  method: "put",
  path: "/v1/pseudoaxes/{name}",
  operationId: "definePseudoaxis",
  summary: "Define or edit a pseudoaxis",
  description:
    "Procedures already conducted keep the steps they pinned; only later conducts see the edit. A definition reaches every later conduct whatever its targets, so only an unscoped principal may define one (a scoped principal is 403), and every definition is audited (`pseudoaxis.defined`: who, the constituents before and after). The name shadows the address it spells: a conduct naming it moves the constituents instead. Constituents are real addresses: a constituent that is a pseudoaxis, or a name already used as another pseudoaxis's constituent, is 422 `PseudoaxisOfPseudoaxis`.",
  security: BEARER,
  middleware: [requires("DefinePseudoaxis")],
  request: { params: NameParam, body: jsonBody(DefinitionBody) },
  responses: { 200: response, ...problemResponses(400, 401, 403, 413, 415, 422) },
});

const get = createRoute({
  method: "get",
  path: "/v1/pseudoaxes/{name}",
  operationId: "readPseudoaxis",
  summary: "Read a pseudoaxis",
  security: BEARER,
  middleware: [requires("ReadPseudoaxis")],
  request: { params: NameParam },
  responses: { 200: response, ...problemResponses(400, 401, 403, 404) },
});

export const pseudoaxisRoutes = createRouter()
  .openapi(put, async (c) => {
    const { name } = c.req.valid("param");
    const { constituents } = c.req.valid("json");
    if (constituents.some((k) => k.address === name)) {
      throw new ProblemError("PseudoaxisSelfReference", "a pseudoaxis cannot be its own constituent");
    }
    const outcome = await savePseudoaxis(c.var.db, name, constituents, c.var.principal.principal_id, new Date().toISOString(), uuidv7());
    if (!outcome.ok) throw new ProblemError("PseudoaxisOfPseudoaxis", outcome.detail);
    return c.json(outcome.saved, 200);
  })
  .openapi(get, async (c) => {
    const { name } = c.req.valid("param");
    const found = await findPseudoaxis(c.var.db, name);
    if (!found) throw new ProblemError("PseudoaxisNotFound", `no pseudoaxis named ${name}`);
    return c.json(found, 200);
  });

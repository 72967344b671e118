// Wiring only: the routes, the Durable Object class and the Cron Trigger.
import { bodyLimit } from "hono/body-limit";
import { activityRoutes } from "./api/activities";
import { admin } from "./api/admin";
import { authenticate } from "./api/auth";
import { createRouter, toProblem } from "./api/app";
import { conductRoutes } from "./api/conduct";
import { decisionRoutes } from "./api/decisions";
import { ProblemError } from "./api/problem";
import { procedureObject } from "./api/procedure-stub";
import { procedures } from "./api/procedures";
import { pseudoaxisRoutes } from "./api/pseudoaxes";
import { watcherRoutes } from "./api/watcher";
import { mountReference } from "./api/reference";
import { database } from "./db/client";
import { config } from "./env";
import { uuidv7 } from "./ids";
import { runTick } from "./watcher/sweep";

export { ProcedureObject } from "./procedure/object";

/** Request bodies above this are refused with 413 before they are read. */
const MAX_BODY_BYTES = 1024 * 1024;

const app = createRouter();

app.use("*", async (c, next) => {
  const correlationId = c.req.header("x-correlation-id")?.slice(0, 200) || uuidv7();
  c.set("correlation_id", correlationId);
  c.set("config", config(c.env));
  c.set("db", database(c.env.DB));
  await next();
  c.header("x-correlation-id", correlationId);
});
app.use(
  "/v1/*",
  bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new ProblemError(413, "PayloadTooLarge", `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    },
  }),
);
app.use("/v1/*", authenticate);
app.route("/", procedures);
app.route("/", conductRoutes);
app.route("/", activityRoutes);
app.route("/", pseudoaxisRoutes);
app.route("/", decisionRoutes);
app.route("/", watcherRoutes);
app.route("/", admin);
mountReference(app);

app.notFound((c) => new ProblemError(404, "RouteNotFound", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`).response());
app.onError((error, c) => toProblem(error, c.req.raw, c.get("correlation_id")));

export default {
  fetch: app.fetch,
  async scheduled(controller, env, ctx) {
    const db = database(env.DB);
    ctx.waitUntil(
      runTick({
        db,
        d1: env.DB,
        config: config(env).watcher,
        nowMs: controller.scheduledTime,
        latestActivityAt: (id) => procedureObject(env, id).latestActivityAt(),
      }),
    );
  },
} satisfies ExportedHandler<Env>;

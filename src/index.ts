// Wiring only: the routes, the Durable Object class, the Cron Trigger and the
// notifications queue's consumer.
import { activityRoutes } from "./api/activities";
import { admin } from "./api/admin";
import { createApp } from "./api/app";
import { conductRoutes } from "./api/conduct";
import { meRoutes } from "./api/me";
import { decisionRoutes } from "./api/decisions";
import { procedureObject } from "./api/procedure-stub";
import { principalRoutes } from "./api/principals";
import { procedures } from "./api/procedures";
import { pseudoaxisRoutes } from "./api/pseudoaxes";
import { subscriptionRoutes } from "./api/subscriptions";
import { streamRoutes } from "./api/stream";
import { mountReference } from "./api/reference";
import { watcherRoutes } from "./api/watcher";
import { database } from "./db/client";
import { config } from "./env";
import { consume, consumerDeps, type NotifyMessage } from "./notify/delivery";
import { drainOutbox } from "./notify/drain";
import { runTick } from "./watcher/sweep";

export { ProcedureObject } from "./procedure/object";

const app = createApp();
for (const routes of [procedures, conductRoutes, activityRoutes, pseudoaxisRoutes, decisionRoutes, watcherRoutes, streamRoutes, subscriptionRoutes, admin, principalRoutes, meRoutes]) {
  app.route("/", routes);
}
mountReference(app);

export default {
  fetch: app.fetch,
  // Awaited, not handed to waitUntil: a failing tick must fail the invocation,
  // so the Cron Trigger's own status and retries see it.
  async scheduled(controller, env) {
    await runTick({
      db: database(env.DB),
      d1: env.DB,
      config: config(env).watcher,
      nowMs: controller.scheduledTime,
      readProcedure: (id) => procedureObject(env, id).watchReading(),
      observeStall: (id, stall, mayHold) => procedureObject(env, id).observeStall(stall, mayHold),
    });
    // The tick's Stall decisions (and any a failed drain left) go to the queue.
    await drainOutbox(database(env.DB), env.DB, env.NOTIFICATIONS as Queue<NotifyMessage>);
  },
  async queue(batch, env) {
    await consume(batch as MessageBatch<NotifyMessage>, consumerDeps(env));
  },
} satisfies ExportedHandler<Env>;

// Wiring only: the routes, the Durable Object class, the Cron Trigger and the
// notifications queue's consumer.
import { activityRoutes } from "./api/activities";
import { admin } from "./api/admin";
import { createApp } from "./api/app";
import { conductRoutes } from "./api/conduct";
import { meRoutes } from "./api/me";
import { decisionRoutes } from "./api/decisions";
import { deliveryRoutes } from "./api/deliveries";
import { procedureObject } from "./api/procedure-stub";
import { principalRoutes } from "./api/principals";
import { procedures } from "./api/procedures";
import { pseudoaxisRoutes } from "./api/pseudoaxes";
import { refusalRoutes } from "./api/refusals";
import { subscriptionRoutes } from "./api/subscriptions";
import { templateRoutes } from "./api/templates";
import { streamRoutes } from "./api/stream";
import { mountReference } from "./api/reference";
import { watcherRoutes } from "./api/watcher";
import { mountMcp } from "./mcp/route";
import { database } from "./db/client";
import { config, metricsFor } from "./env";
import { consume, consumeDeadLetters, consumerDeps, DEAD_LETTER_QUEUE, type NotifyMessage } from "./notify/delivery";
import { drainOutbox } from "./notify/drain";
import { runArchivePass, runRetention } from "./retention/sweep";
import { runTick, type TickDeps } from "./watcher/sweep";

export { ProcedureObject } from "./procedure/object/object";

const app = createApp();
for (const routes of [procedures, conductRoutes, activityRoutes, pseudoaxisRoutes, templateRoutes, decisionRoutes, watcherRoutes, streamRoutes, subscriptionRoutes, deliveryRoutes, refusalRoutes, admin, principalRoutes, meRoutes]) {
  app.route("/", routes);
}
mountReference(app);
// After every route: its tools are derived from the routes mounted above.
mountMcp(app);

export default {
  fetch: app.fetch,
  // Awaited, not handed to waitUntil: a failing tick must fail the invocation,
  // so the Cron Trigger's own status and retries see it.
  async scheduled(controller, env) {
    const nowMs = controller.scheduledTime;
    // Housekeeping first, walled off from the watcher: archiving and the
    // retention windows run whether the watcher is on, off or failing, and
    // their figures go into the tick's summary.
    let housekeeping: TickDeps["housekeeping"];
    let failed: unknown = null;
    try {
      const retention = config(env).retention;
      const archive = await runArchivePass({ d1: env.DB, config: retention, nowMs, requestArchive: (id) => procedureObject(env, id).requestArchive(nowMs) });
      housekeeping = { archive, retention: await runRetention(env.DB, retention, nowMs) };
    } catch (error) {
      failed = error;
    }
    try {
      await runTick({
        db: database(env.DB),
        d1: env.DB,
        config: config(env).watcher,
        nowMs,
        readProcedure: (id) => procedureObject(env, id).watchReading(),
        observeStall: (id, episode, mayHold) => procedureObject(env, id).observeStall(episode, mayHold),
        housekeeping,
        logs: config(env).telemetry,
        metrics: metricsFor(env),
      });
    } finally {
      // The tick's Stall decisions (and any a failed drain left) go to the
      // queue, also after a tick that failed part way.
      await drainOutbox(database(env.DB), env.DB, env.NOTIFICATIONS as Queue<NotifyMessage>);
    }
    if (failed !== null) throw failed;
  },
  // The notifications queue and its dead-letter queue share this consumer.
  async queue(batch, env) {
    const messages = batch as MessageBatch<NotifyMessage>;
    if (batch.queue === DEAD_LETTER_QUEUE) await consumeDeadLetters(messages, consumerDeps(env));
    else await consume(messages, consumerDeps(env));
  },
} satisfies ExportedHandler<Env>;

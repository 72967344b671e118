// Bench-only entry point (bench/wrangler.bench.toml): the service unchanged,
// plus a bare Durable Object that does one SQLite insert per request. It is the
// floor every service command is compared with. Never deployed.
import { DurableObject } from "cloudflare:workers";
import service from "../src/index";

// Everything the service exports (its Durable Object classes). A Worker's main
// module may export only handlers and classes: workerd refuses to start on a
// plain value, here as in the service itself.
export * from "../src/index";

export interface BenchEnv extends Env {
  BASELINE: DurableObjectNamespace<BaselineObject>;
}

/** One SQLite-backed object per name; each request is exactly one INSERT. */
export class BaselineObject extends DurableObject<BenchEnv> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: BenchEnv) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // Once per object instance, not per request.
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS rows (seq INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL, recorded_at TEXT NOT NULL)",
    );
  }

  /** Inserts one row and answers its sequence number. */
  async insert(payload: string): Promise<{ seq: number }> {
    const row = this.sql
      .exec<{ seq: number }>("INSERT INTO rows (payload, recorded_at) VALUES (?, ?) RETURNING seq", payload, new Date().toISOString())
      .one();
    return { seq: row.seq };
  }
}

const BASELINE_PATH = /^\/__bench\/baseline\/([^/]{1,200})$/;

export default {
  ...service,
  async fetch(request, env, ctx) {
    const match = request.method === "POST" ? BASELINE_PATH.exec(new URL(request.url).pathname) : null;
    if (match) {
      const name = decodeURIComponent(match[1]!);
      const stub = env.BASELINE.get(env.BASELINE.idFromName(name));
      return Response.json(await stub.insert(await request.text()));
    }
    return service.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<BenchEnv>;

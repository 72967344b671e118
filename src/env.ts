// The Worker's environment, validated once per isolate at the entry points.
import { z } from "zod";
import { parseRetentionConfig, type RetentionConfig } from "./retention/policy";
import { parseWatcherConfig, type WatcherConfig } from "./watcher/stall";

const SecretsSchema = z.object({
  ADMIN_TOKEN: z.string().min(16, "ADMIN_TOKEN must be at least 16 characters"),
  WEBHOOK_SIGNING_KEY: z.string().min(16, "WEBHOOK_SIGNING_KEY must be at least 16 characters"),
});

export interface Config {
  adminToken: string;
  /** What webhook signing secrets are encrypted under (src/notify/secret.ts). */
  webhookSigningKey: string;
  watcher: Required<WatcherConfig>;
  retention: RetentionConfig;
}

const parsed = new WeakMap<object, Config>();

/** The validated configuration; throws a clear error when a variable is wrong. */
export function config(env: Env): Config {
  let value = parsed.get(env);
  if (!value) {
    const secrets = SecretsSchema.parse(env);
    value = { adminToken: secrets.ADMIN_TOKEN, webhookSigningKey: secrets.WEBHOOK_SIGNING_KEY, watcher: parseWatcherConfig(env), retention: parseRetentionConfig(env) };
    parsed.set(env, value);
  }
  return value;
}

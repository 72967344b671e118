// The Worker's environment, validated once per isolate at the entry points.
import { z } from "zod";
import { Metrics, type MetricsSink } from "./observability/metrics";
import { parseRetentionConfig, type RetentionConfig } from "./retention/policy";
import { parseWatcherConfig, type WatcherConfig } from "./watcher/stall";

const SecretsSchema = z.object({
  ADMIN_TOKEN: z.string().min(16, "ADMIN_TOKEN must be at least 16 characters"),
  WEBHOOK_SIGNING_KEY: z.string().min(16, "WEBHOOK_SIGNING_KEY must be at least 16 characters"),
});

/** PUBLIC_CONSOLE_URL: the console as people reach it (an absolute http(s) URL), or empty for none. */
const ConsoleUrl = z
  .string()
  .trim()
  .refine((value) => value === "" || /^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(value), "PUBLIC_CONSOLE_URL must be an absolute http(s) URL without query or fragment, or empty")
  .transform((value) => (value === "" ? null : value.replace(/\/+$/, "")));
/** A comma-separated list of host names; an entry written as an origin (`https://host:port`) counts as its host name. */
const HostList = z
  .string()
  .default("")
  .transform((value) =>
    value
      .split(",")
      .map((entry) => entry.trim())
      .filter((entry) => entry !== "")
      .map((entry) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ? new URL(entry).hostname : entry.toLowerCase())),
  );

const McpVars = z.object({ MCP_ALLOWED_ORIGINS: HostList, MCP_ALLOWED_HOSTS: HostList });

/** "false" turns off the info log lines and the metrics (for a cost comparison); anything else, or unset, leaves them on. */
const TelemetryVars = z.object({ TELEMETRY_ENABLED: z.string().optional().transform((value) => value !== "false") });

export interface McpConfig {
  /** Host names of the browser origins that may call /mcp; a request with no Origin is not a browser's. */
  allowedOrigins: string[];
  /** Host names /mcp answers to; empty: any. */
  allowedHosts: string[];
}

export interface Config {
  adminToken: string;
  /** The public URL of the console, which Slack messages link to; null: messages carry no link. */
  consoleUrl: string | null;
  /** What webhook signing secrets are encrypted under (src/notify/secret.ts). */
  webhookSigningKey: string;
  watcher: Required<WatcherConfig>;
  mcp: McpConfig;
  /** Whether the per-request, per-job, per-tick and per-delivery lines and the metrics are written; warnings and errors always are. */
  telemetry: boolean;
  retention: RetentionConfig;
}

const parsed = new WeakMap<object, Config>();

/** A Worker variable or secret that does not validate; the message names each one and what it must be. */
export class ConfigurationError extends Error {
  override readonly name = "ConfigurationError";
}

/** The validated configuration; throws a ConfigurationError naming the variable when one is wrong. */
export function config(env: Env): Config {
  let value = parsed.get(env);
  if (!value) {
    value = readConfig(env);
    parsed.set(env, value);
  }
  return value;
}

function readConfig(env: Env): Config {
  try {
    const secrets = SecretsSchema.parse(env);
    const mcp = McpVars.parse(env);
    return {
      adminToken: secrets.ADMIN_TOKEN,
      consoleUrl: ConsoleUrl.parse(env.PUBLIC_CONSOLE_URL ?? ""),
      webhookSigningKey: secrets.WEBHOOK_SIGNING_KEY,
      watcher: parseWatcherConfig(env),
      mcp: { allowedOrigins: mcp.MCP_ALLOWED_ORIGINS, allowedHosts: mcp.MCP_ALLOWED_HOSTS },
      telemetry: TelemetryVars.parse(env).TELEMETRY_ENABLED,
      retention: parseRetentionConfig(env),
    };
  } catch (error) {
    if (!(error instanceof z.ZodError)) throw error;
    // Each issue's message names its variable, or its path does (a missing secret).
    const problems = error.issues.map((issue) => {
      const name = issue.path.join(".");
      return name === "" || issue.message.startsWith(name) ? issue.message : `${name}: ${issue.message}`;
    });
    throw new ConfigurationError(`the Worker's configuration is invalid: ${problems.join("; ")}`);
  }
}

/** The metrics writer over the METRICS dataset: a no-op when it is unbound or TELEMETRY_ENABLED is "false". */
export function metricsFor(env: Env): Metrics {
  return new Metrics(env.METRICS as MetricsSink | undefined, config(env).telemetry);
}

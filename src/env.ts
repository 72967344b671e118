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
  .transform((value, ctx) =>
    value
      .split(",")
      .map((entry) => entry.trim())
      .filter((entry) => entry !== "")
      .flatMap((entry) => {
        if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) return [entry.toLowerCase()];
        if (URL.canParse(entry)) return [new URL(entry).hostname];
        ctx.addIssue({ code: "custom", message: `${entry} is not an origin (https://host or https://host:port)`, input: entry });
        return [];
      }),
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
  const problems: string[] = [];
  /** Each part's value, or null with its issues noted: every wrong variable is named, not only the first. */
  const read = <T>(part: () => T): T | null => {
    try {
      return part();
    } catch (error) {
      if (!(error instanceof z.ZodError)) throw error;
      // Each issue's message names its variable, or its path does (a missing secret, a list's entry).
      for (const issue of error.issues) {
        const name = String(issue.path[0] ?? "");
        problems.push(name === "" || issue.message.startsWith(name) ? issue.message : `${name}: ${issue.message}`);
      }
      return null;
    }
  };
  const secrets = read(() => SecretsSchema.parse(env));
  const consoleUrl = read(() => ConsoleUrl.parse(env.PUBLIC_CONSOLE_URL ?? ""));
  const watcher = read(() => parseWatcherConfig(env));
  const mcp = read(() => McpVars.parse(env));
  const telemetry = read(() => TelemetryVars.parse(env).TELEMETRY_ENABLED);
  const retention = read(() => parseRetentionConfig(env));
  if (problems.length > 0) throw new ConfigurationError(`the Worker's configuration is invalid: ${problems.join("; ")}`);
  // Every part parsed (no problem was noted), so none is null but a console URL left empty.
  return {
    adminToken: secrets!.ADMIN_TOKEN,
    consoleUrl,
    webhookSigningKey: secrets!.WEBHOOK_SIGNING_KEY,
    watcher: watcher!,
    mcp: { allowedOrigins: mcp!.MCP_ALLOWED_ORIGINS, allowedHosts: mcp!.MCP_ALLOWED_HOSTS },
    telemetry: telemetry!,
    retention: retention!,
  };
}

/** The metrics writer over the METRICS dataset: a no-op when it is unbound or TELEMETRY_ENABLED is "false". */
export function metricsFor(env: Env): Metrics {
  return new Metrics(env.METRICS as MetricsSink | undefined, config(env).telemetry);
}

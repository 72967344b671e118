// The Worker's configuration: a wrong variable or secret is refused with an
// error that names it, whatever part of the configuration reads it.
import { describe, expect, it } from "vitest";
import { config, ConfigurationError } from "../../src/env";

const valid = { ADMIN_TOKEN: "a-local-admin-token", WEBHOOK_SIGNING_KEY: "a-signing-key-of-some-length" };
const envOf = (vars: Record<string, string | undefined>) => ({ ...vars }) as unknown as Env;

function refusal(vars: Record<string, string | undefined>): ConfigurationError {
  try {
    config(envOf(vars));
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error("the configuration was accepted");
}

describe("config", () => {
  it("reads a valid configuration", () => {
    expect(config(envOf(valid))).toMatchObject({ adminToken: valid.ADMIN_TOKEN, watcher: { enabled: false, maxCandidates: 500 } });
  });

  it("names a secret that is too short", () => {
    expect(refusal({ ...valid, ADMIN_TOKEN: "another-token" }).message).toBe(
      "the Worker's configuration is invalid: ADMIN_TOKEN must be at least 16 characters",
    );
  });

  it("names a secret that is missing", () => {
    expect(refusal({ ADMIN_TOKEN: valid.ADMIN_TOKEN }).message).toMatch(/^the Worker's configuration is invalid: WEBHOOK_SIGNING_KEY: /);
  });

  it("names a variable of the watcher or of retention", () => {
    expect(refusal({ ...valid, WATCHER_MAX_CANDIDATES: "0" }).message).toContain("WATCHER_MAX_CANDIDATES must be an integer from 1 to 10000");
    expect(refusal({ ...valid, ARCHIVE_AFTER_SECONDS: "soon" }).message).toContain("ARCHIVE_AFTER_SECONDS");
  });

  it("names every wrong variable at once, and an origin in a host list that is not one", () => {
    const message = refusal({ ...valid, ADMIN_TOKEN: "short", WATCHER_MAX_CANDIDATES: "0", MCP_ALLOWED_ORIGINS: "https://ok.example, https://console.example:80x" }).message;
    expect(message).toContain("ADMIN_TOKEN must be at least 16 characters");
    expect(message).toContain("WATCHER_MAX_CANDIDATES must be an integer from 1 to 10000");
    expect(message).toContain("MCP_ALLOWED_ORIGINS: https://console.example:80x is not an origin");
  });

  it("says what it is in a log line's stack", () => {
    expect(refusal({ ...valid, ADMIN_TOKEN: "short" }).stack).toMatch(/^ConfigurationError: the Worker's configuration is invalid: ADMIN_TOKEN/);
  });
});

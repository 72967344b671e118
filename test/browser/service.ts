// The service as a browser meets it: wrangler dev on a free port with fresh
// state (the bench's startServer), the watcher on with a Cron handler a test
// can fire, and an API client to seed procedures the way operators and
// gateways do.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { ROOT, startServer } from "../../bench/lib.mjs";
import { uuidv7 } from "../../src/ids";

export const CHROMIUM = "/usr/bin/chromium";
export const chromiumPresent = existsSync(CHROMIUM);
export const ARTIFACTS = join(ROOT, "test", "browser", "artifacts");
export const README_SCREENSHOTS = join(ROOT, "docs", "screenshots");

export type Server = Awaited<ReturnType<typeof startServer>>;

/** Builds the assets (so a run of this project alone serves the current console) and starts the service. */
export function startService(): Promise<Server> {
  execFileSync(process.execPath, [join(ROOT, "scripts", "build-assets.mjs")], { stdio: "ignore" });
  return startServer({
    config: join(ROOT, "wrangler.toml"),
    vars: { WATCHER_ENABLED: "true", STALE_AFTER_SECONDS: "60" },
    testScheduled: true,
  });
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
}

export interface Answer {
  status: number;
  json: any;
}

/** Calls the API as `token`; never throws on a refusal. */
export async function callApi(server: Server, token: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(server.baseUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

/** A fresh principal's token. */
export async function tokenFor(server: Server, name: string, role: "admin" | "operator" | "gateway" | "reader"): Promise<string> {
  const created = await callApi(server, server.token, "POST", "/v1/principals", { name, roles: [role] });
  if (created.status !== 201) throw new Error(`creating ${name}: ${created.status}`);
  return created.json.token;
}

export const STEPS = {
  heat: { kind: "setpoint", address: "oven.zone_a", value: 120, verify: true },
  verify: { kind: "check", address: "oven.zone_a", criterion: { kind: "within_tolerance", expected: 120, tolerance: 2 } },
  valve: { kind: "action", name: "open_valve", params: { valve: "v3" } },
  cool: { kind: "setpoint", address: "oven.zone_a", value: 20, verify: false },
};

/** Registers and conducts a procedure; returns its id. */
export async function conducted(
  server: Server,
  operator: string,
  name: string,
  options: { asset?: string; kind?: string; on_failure?: "abort" | "hold"; on_stall?: "flag" | "hold"; deadline_seconds?: number } = {},
) {
  const registered = await callApi(server, operator, "POST", "/v1/procedures", { name, kind: options.kind ?? "thermal", target_asset_ids: [options.asset ?? "oven-1"] });
  if (registered.status !== 201) throw new Error(`register: ${registered.status}`);
  const id: string = registered.json.procedure_id;
  const result = await callApi(server, operator, "POST", `/v1/procedures/${id}/conduct`, {
    steps: [options.deadline_seconds ? { ...STEPS.heat, deadline_seconds: options.deadline_seconds } : STEPS.heat, STEPS.verify, STEPS.valve],
    closing_steps: [STEPS.cool],
    on_failure: options.on_failure ?? "hold",
    ...(options.on_stall ? { on_stall: options.on_stall } : {}),
  });
  if (result.status !== 200 || !result.json.succeeded) throw new Error(`conduct: ${result.status}`);
  return id;
}

/** A gateway's report of one step. */
export function report(step_kind: string, step_index: number, result: "in_flight" | "ok" | "failed", extra: Record<string, unknown> = {}) {
  return { event_id: uuidv7(), step_kind, payload: { step_index, result, ...extra }, sampled_at: new Date().toISOString() };
}

/** Posts entries as a gateway would; throws unless accepted. */
export async function gatewayPosts(server: Server, gateway: string, id: string, entries: unknown[]) {
  const answer = await callApi(server, gateway, "POST", `/v1/procedures/${id}/activities`, { entries });
  if (answer.status !== 200) throw new Error(`activities: ${answer.status} ${JSON.stringify(answer.json)}`);
}

/**
 * Fires the Cron handler as if at `atMs` (wrangler dev --test-scheduled):
 * a tick in the future sees every procedure in conduct as stalled without
 * the test waiting for the window to pass.
 */
/**
 * Waits until the list (the D1 projection, which trails a procedure's own state
 * by about half a second) shows the procedure with `status`, as a watcher tick reads it.
 */
export async function projected(server: Server, token: string, id: string, status: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const page = await callApi(server, token, "GET", `/v1/procedures?status=${status}&limit=100`);
    if (page.json?.items?.some((item: { procedure_id: string }) => item.procedure_id === id)) return;
    if (Date.now() > deadline) throw new Error(`procedure ${id} not listed as ${status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function tick(server: Server, atMs: number) {
  const response = await fetch(`${server.baseUrl}/cdn-cgi/local/scheduled?cron=${encodeURIComponent("*/5 * * * *")}&time=${atMs}`);
  if (!response.ok) throw new Error(`scheduled: ${response.status} ${await response.text()}`);
}

/** A browser page on its own context (its own sessionStorage), with every request it makes recorded. */
/** Every Content-Security-Policy violation any page reported (Chromium logs each to the console). */
export const cspViolations: string[] = [];

export async function openPage(browser: Browser, viewport = { width: 1280, height: 900 }): Promise<{ context: BrowserContext; page: Page; requested: string[] }> {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const requested: string[] = [];
  page.on("request", (request) => void requested.push(request.url()));
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(`${page.url()}: ${message.text()}`);
  });
  return { context, page, requested };
}

/** Signs in on /console with a pasted token and waits until the page knows who it is. */
export async function signIn(page: Page, server: Server, token: string) {
  await page.goto(`${server.baseUrl}/console`);
  await page.getByLabel("Bearer token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#who").waitFor();
}

/** A page of its own signed in with `token`, recording the requests it makes. */
export async function signedInPage(browser: Browser, server: Server, token: string, viewport?: { width: number; height: number }) {
  const opened = await openPage(browser, viewport);
  await signIn(opened.page, server, token);
  return opened;
}

/** Closes a page's context; routes still in flight (an icon, a read) end quietly rather than as unhandled rejections. */
export async function closePage(page: Page) {
  await page.unrouteAll({ behavior: "ignoreErrors" });
  await page.context().close();
}

/**
 * Holds the page's requests to `pathname` until the test releases them:
 * `taken` resolves once one arrived. With `answerFirst`, each is answered by
 * the service at once and that answer is held back (it tells how things
 * stood before the hold); else the request reaches the service only on release.
 */
export async function holdRequests(page: Page, pathname: string, { answerFirst }: { answerFirst: boolean }) {
  let arrive!: () => void;
  const arrived = new Promise<void>((resolve) => (arrive = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await page.route(
    (url) => url.pathname === pathname,
    async (route) => {
      const response = answerFirst ? await route.fetch() : null;
      arrive();
      await released;
      await (response ? route.fulfill({ response }) : route.continue());
    },
  );
  return { taken: arrived, release };
}

// The console and the reference in a real browser (Debian's Chromium) against
// the service under wrangler dev: what an operator sees and does, checked on
// the page and again through the API.
import { copyFile, mkdir } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uuidv7 } from "../../src/ids";
import {
  ARTIFACTS,
  callApi,
  chromiumPresent,
  cspViolations,
  CHROMIUM,
  conducted,
  gatewayPosts,
  launchChromium,
  openPage,
  projected,
  README_SCREENSHOTS,
  report,
  signIn,
  startService,
  tick,
  tokenFor,
  type Server,
} from "./service";

if (!chromiumPresent) {
  console.warn(`\n*** Browser tests SKIPPED: no Chromium at ${CHROMIUM} (install it with: apt-get install -y chromium) ***\n`);
}

/** Saved under test/browser/artifacts; the README's few also to docs/screenshots when asked. */
async function screenshot(page: Page, name: string, forReadme = false, fullPage = true) {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  if (forReadme && process.env.UPDATE_README_SCREENSHOTS === "1") {
    await mkdir(README_SCREENSHOTS, { recursive: true });
    await copyFile(path, join(README_SCREENSHOTS, `${name}.png`));
  }
}

const stepState = (page: Page, index: number, state: string) => page.locator(`li[data-step-index="${index}"][data-state="${state}"]`).waitFor();
const statusIs = (page: Page, status: string) => page.locator("#procedure-status .badge", { hasText: status }).first().waitFor();

describe.skipIf(!chromiumPresent)("the console in Chromium", () => {
  let server: Server;
  let browser: Browser;
  let operator: string;
  let gateway: string;
  let reader: string;
  let admin: string;
  const requested: string[] = [];

  async function operatorPage(token = operator, viewport?: { width: number; height: number }) {
    const opened = await openPage(browser, viewport);
    opened.page.on("request", (request) => void requested.push(request.url()));
    await signIn(opened.page, server, token);
    return opened.page;
  }

  async function confirmDialog(page: Page, fields: { reason?: string } = {}) {
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    if (fields.reason !== undefined) await dialog.getByLabel(/Reason/).fill(fields.reason);
    await dialog.locator("button[type=submit]").click();
    await dialog.waitFor({ state: "detached" });
  }

  beforeAll(async () => {
    [server, browser] = await Promise.all([startService(), launchChromium()]);
    [operator, gateway, reader, admin] = await Promise.all([
      tokenFor(server, "alice", "operator"),
      tokenFor(server, "beamline-7", "gateway"),
      tokenFor(server, "rita", "reader"),
      tokenFor(server, "ops-admin", "admin"),
    ]);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("signs in with a pasted token, says who is signed in, and refuses an unknown token with its problem", async () => {
    const { page } = await openPage(browser);
    await page.goto(`${server.baseUrl}/console`);
    await page.getByLabel("Bearer token").fill("not-a-token-anyone-holds");
    await page.getByRole("button", { name: "Sign in" }).click();
    const problem = page.locator(".problem");
    await problem.waitFor();
    expect(await problem.locator(".problem-title").textContent()).toBe("Unauthorized");
    expect(await problem.locator(".problem-detail").textContent()).toContain("not recognised");

    await page.getByLabel("Bearer token").fill(operator);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#who").waitFor();
    expect(await page.locator("#who").textContent()).toBe("alice · operator");
    // The token is kept for this tab's session only.
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length])).toEqual([1, 0]);
    await page.context().close();
  });

  it("follows a procedure over its live stream: a gateway's entries appear without the page polling", async () => {
    const id = await conducted(server, operator, "Live bake-out");
    const { page, requested: mine, context } = await openPage(browser);
    await signIn(page, server, operator);
    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    await page.locator("#live-status", { hasText: "Following live." }).waitFor();
    await stepState(page, 0, "pending");
    const reads = () => mine.filter((url) => url.includes(`/v1/procedures/${id}/activities`) || url.endsWith(`/v1/procedures/${id}`)).length;
    const before = reads();

    await gatewayPosts(server, gateway, id, [report("setpoint", 0, "ok"), report("check", 1, "in_flight")]);
    await stepState(page, 1, "in_flight");
    expect(await page.locator(`li[data-step-index="0"]`).getAttribute("data-state")).toBe("ok");
    await page.locator("#logbook-title + p + div tbody tr").nth(1).waitFor();

    expect(mine.some((url) => url.includes(`/v1/procedures/${id}/stream?ticket=`))).toBe(true);
    // The entries came over the stream: the page read neither the procedure nor its logbook again.
    expect(reads()).toBe(before);
    await context.close();
  });

  it("shows the steps of a conducted procedure turn ok as a gateway reports them, and the fleet its progress", async () => {
    const id = await conducted(server, operator, "Bake-out oven 1");
    const page = await operatorPage();
    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    await statusIs(page, "Running");
    for (const index of [0, 1, 2, 3]) await stepState(page, index, "pending");

    await gatewayPosts(server, gateway, id, [report("setpoint", 0, "in_flight")]);
    await stepState(page, 0, "in_flight");
    await gatewayPosts(server, gateway, id, [report("setpoint", 0, "ok"), report("check", 1, "ok"), report("action", 2, "in_flight")]);
    await stepState(page, 1, "ok");
    await stepState(page, 2, "in_flight");
    expect(await page.locator(`li[data-step-index="0"]`).getAttribute("data-state")).toBe("ok");
    await screenshot(page, "procedure-running", true);

    await page.goto(`${server.baseUrl}/console#/?asset=oven-1`);
    const row = page.locator(`tr[data-procedure-id="${id}"]`);
    await row.locator('[role="progressbar"][aria-valuenow="2"]').waitFor();
    expect(await row.locator('[role="progressbar"]').getAttribute("aria-label")).toBe("2 of 4 steps ok");
    await screenshot(page, "fleet", true);

    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    await gatewayPosts(server, gateway, id, [report("action", 2, "ok"), report("setpoint", 3, "ok")]);
    await statusIs(page, "Completed");
    await stepState(page, 3, "ok");
    expect(await page.locator(".actions button").count()).toBe(0);
    await page.context().close();
  });

  it("holds and resumes a procedure from the page", async () => {
    const id = await conducted(server, operator, "Hold and resume");
    const page = await operatorPage();
    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    await statusIs(page, "Running");

    await page.getByRole("button", { name: "Hold", exact: true }).click();
    await confirmDialog(page, { reason: "door opened" });
    await statusIs(page, "Held");
    await page.locator('#hold-claims li[data-cause="operator"]').waitFor();
    const held = await callApi(server, operator, "GET", `/v1/procedures/${id}`);
    expect(held.json).toMatchObject({ status: "Held", last_status_reason: "door opened", hold_claims: [{ cause: "operator" }] });

    await page.getByRole("button", { name: "Resume", exact: true }).click();
    const boundary = page.getByRole("dialog").getByLabel(/boundary/);
    expect(await boundary.inputValue()).toBe("0");
    await confirmDialog(page);
    await statusIs(page, "Running");
    const resumed = await callApi(server, operator, "GET", `/v1/procedures/${id}`);
    expect(resumed.json).toMatchObject({ status: "Running", hold_claims: [] });
    await page.context().close();
  });

  it("shows a failed step holding the procedure by step-fault, conducts from the suggested boundary, and gives the go-ahead", async () => {
    const id = await conducted(server, operator, "Leak check", { asset: "chamber-2" });
    await gatewayPosts(server, gateway, id, [report("setpoint", 0, "ok"), report("check", 1, "failed", { error_class: "OutOfTolerance", message: "117.2" })]);
    const page = await operatorPage();
    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    await statusIs(page, "Held");
    await page.locator('#hold-claims li[data-cause="step-fault"]').waitFor();
    await stepState(page, 1, "failed");
    expect(await page.locator(`li[data-step-index="1"] .step-failure`).textContent()).toBe("OutOfTolerance: 117.2");
    const marker = page.locator("li.boundary");
    expect(await marker.getAttribute("aria-label")).toBe("Suggested resume boundary: step 1");
    // The marker sits right before the step it names.
    expect(await marker.evaluate((el) => el.nextElementSibling?.getAttribute("data-step-index"))).toBe("1");
    await screenshot(page, "procedure-held", true);

    await page.getByRole("button", { name: "Conduct from step 1" }).click();
    await confirmDialog(page);
    await statusIs(page, "Running");
    // The replayed action waits for the operator; the gateway is refused until then.
    await stepState(page, 2, "awaiting_go_ahead");
    const early = await callApi(server, gateway, "POST", `/v1/procedures/${id}/activities`, { entries: [report("action", 2, "in_flight")] });
    expect(early.json.error_class).toBe("AcquisitionResumeRequiresOperator");

    await page.locator("#go-ahead-2").click();
    await confirmDialog(page);
    await stepState(page, 2, "pending");
    const state = await callApi(server, operator, "GET", `/v1/procedures/${id}`);
    expect(state.json).toMatchObject({ status: "Running", replay_awaiting_operator: [] });
    const events = await callApi(server, operator, "GET", `/v1/procedures/${id}/events`);
    expect(events.json.items.map((e: { type: string }) => e.type)).toContain("ProcedureReplayStepAuthorized");
    await gatewayPosts(server, gateway, id, [report("check", 1, "ok"), report("action", 2, "ok"), report("setpoint", 3, "ok")]);
    await statusIs(page, "Completed");
    await page.context().close();
  });

  it("shows a Stall decision after a watcher tick, on the decisions page, the fleet and the procedure", async () => {
    const id = await conducted(server, operator, "Quiet anneal", { asset: "oven-stall" });
    await projected(server, operator, id, "Running");
    await tick(server, Date.now() + 2 * 3600_000);
    const page = await operatorPage();
    await page.goto(`${server.baseUrl}/console#/decisions`);
    const link = page.locator(`a[href="#/procedures/${id}"]`);
    await link.waitFor();
    await screenshot(page, "decisions");
    await link.click();
    await page.locator("#procedure-status .stall").waitFor();
    await page.goto(`${server.baseUrl}/console#/?asset=oven-stall`);
    await page.locator(`tr[data-procedure-id="${id}"] .stall`).waitFor();
    await page.goto(`${server.baseUrl}/console#/watcher`);
    await page.locator("#watcher-outcome", { hasText: "ran" }).waitFor();
    expect(await page.locator("#watcher-deactivate").count()).toBe(0);
    await page.context().close();
  });

  it("warns before resuming a procedure the watcher held for a stall, and resumes when told to", async () => {
    const id = await conducted(server, operator, "Slow bake", { asset: "oven-act", on_stall: "hold" });
    await gatewayPosts(server, gateway, id, [report("setpoint", 0, "ok")]);
    await projected(server, operator, id, "Running");
    await tick(server, Date.now() + 2 * 3600_000);
    const held = await callApi(server, operator, "GET", `/v1/procedures/${id}`);
    expect(held.json).toMatchObject({ status: "Held", hold_claims: [{ cause: "stall" }], open_stall_decision_id: expect.any(String) });

    const page = await operatorPage();
    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    await statusIs(page, "Held");
    await page.locator('#hold-claims li[data-cause="stall"]').waitFor();
    await page.locator(`#open-stall[data-decision-id="${held.json.open_stall_decision_id}"]`).waitFor();
    await page.getByRole("button", { name: "Resume", exact: true }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByText("It stalled at step 1; resume anyway?").waitFor();
    await screenshot(page, "resume-after-stall");
    expect(await dialog.locator("button[type=submit]").textContent()).toBe("Resume anyway");
    await dialog.getByLabel(/boundary/).fill("1");
    await confirmDialog(page);
    await statusIs(page, "Running");
    const resumed = await callApi(server, operator, "GET", `/v1/procedures/${id}`);
    expect(resumed.json).toMatchObject({ status: "Running", hold_claims: [], open_stall_decision_id: null });
    await page.locator("#open-stall").waitFor({ state: "detached" });
    await page.context().close();
  });

  it("lists a StepOverdue decision on the decisions page once a step's deadline passes", async () => {
    const id = await conducted(server, operator, "Timed heat", { asset: "oven-deadline", deadline_seconds: 1 });
    await gatewayPosts(server, gateway, id, [report("setpoint", 0, "in_flight")]);
    // The procedure's own alarm decides it, within seconds of the deadline, with no tick.
    const page = await operatorPage();
    await page.goto(`${server.baseUrl}/console#/decisions`);
    await page.locator(`tr[data-choice="StepOverdue"] a[href="#/procedures/${id}"]`).waitFor({ timeout: 20_000 });
    const events = await callApi(server, operator, "GET", `/v1/procedures/${id}/events`);
    expect(events.json.items.map((e: { type: string }) => e.type)).toContain("ProcedureStepOverdue");
    await page.context().close();
  });

  it("subscribes a webhook from the Subscriptions page, shows its secret once, sends a test ping that is delivered, and deletes it", async () => {
    const received: string[] = [];
    const receiver = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        received.push(String(req.headers["webhook-id"]));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook-${uuidv7()}`;
    try {
      const page = await operatorPage();
      await page.getByRole("link", { name: "Subscriptions" }).click();
      await page.getByLabel("Receiver URL").fill(url);
      await page.getByLabel("procedure.held").check();
      await page.getByLabel("procedure.stalled").check();
      await page.getByLabel("Only procedures on asset (optional)").fill("oven-9");
      await page.getByRole("button", { name: "Create subscription" }).click();
      const secret = page.locator("#subscription-secret");
      await secret.waitFor();
      expect(await secret.textContent()).toMatch(/^whsec_/);
      expect(await page.locator("#subscription-secret-region").textContent()).toContain("shown only this once");

      const row = page.locator("tr[data-subscription-id]", { hasText: url });
      await row.waitFor();
      const id = await row.getAttribute("data-subscription-id");
      const stored = await callApi(server, operator, "GET", `/v1/subscriptions/${id}`);
      expect(stored.json).toMatchObject({ url, event_types: ["procedure.stalled", "procedure.held"], filter: { target_asset_id: "oven-9", kind: null }, format: "standard" });
      expect(stored.json.secret).toBeUndefined();

      await row.getByRole("button", { name: "Send test ping" }).click();
      // The local queue delivers within seconds; the page's own refresh shows the attempt.
      await page.locator('#deliveries-title ~ div tr[data-outcome="delivered"]', { hasText: "ping" }).waitFor({ timeout: 30_000 });
      expect(received).toHaveLength(1);
      await screenshot(page, "subscriptions", true);

      await row.getByRole("button", { name: "Delete" }).click();
      await confirmDialog(page);
      await row.waitFor({ state: "detached" });
      expect((await callApi(server, operator, "GET", `/v1/subscriptions/${id}`)).status).toBe(404);
      await page.context().close();
    } finally {
      receiver.close();
    }
  });

  it("refuses a subscription to a URL the service will not post to, showing the problem, and writes nothing", async () => {
    const page = await operatorPage();
    await page.goto(`${server.baseUrl}/console#/subscriptions`);
    const url = `http://hooks-${uuidv7()}.example.org/`;
    await page.getByLabel("Receiver URL").fill(url);
    await page.getByLabel("procedure.held").check();
    await page.getByRole("button", { name: "Create subscription" }).click();
    const problem = page.locator("#subscriptions-problem .problem");
    await problem.waitFor();
    expect(await problem.getAttribute("data-error-class")).toBe("WebhookUrlNotAllowed");
    expect(await problem.locator(".problem-detail").textContent()).not.toBe("");
    const listed = await callApi(server, operator, "GET", "/v1/subscriptions?limit=100");
    expect(listed.json.items.some((s: { url: string }) => s.url === url)).toBe(false);
    await page.context().close();
  });

  it("shows a reader no Subscriptions page", async () => {
    const page = await operatorPage(reader);
    await page.locator("nav a", { hasText: "Fleet" }).waitFor();
    expect(await page.locator("nav a", { hasText: "Subscriptions" }).count()).toBe(0);
    await page.context().close();
  });

  it("lets an admin use the watcher's kill switch", async () => {
    const page = await operatorPage(admin);
    await page.goto(`${server.baseUrl}/console#/watcher`);
    await page.locator("#watcher-deactivate").click();
    await confirmDialog(page);
    await page.locator("#watcher-agent-active", { hasText: "no" }).waitFor();
    await screenshot(page, "watcher");
    const watcher = await callApi(server, admin, "GET", "/v1/watcher");
    expect(watcher.json.agent.active).toBe(false);
    await page.locator("#watcher-activate").click();
    await confirmDialog(page);
    await page.locator("#watcher-agent-active", { hasText: "yes" }).waitFor();
    expect((await callApi(server, admin, "GET", "/v1/watcher")).json.agent.active).toBe(true);
    await page.context().close();
  });

  it("shows a reader no action buttons", async () => {
    const id = await conducted(server, operator, "Read only");
    await callApi(server, operator, "POST", `/v1/procedures/${id}/hold`, { reason: "inspection" });
    const page = await operatorPage(reader);
    expect(await page.locator("#who").textContent()).toBe("rita · reader");
    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    await statusIs(page, "Held");
    await page.locator("li.boundary").waitFor();
    expect(await page.locator("main button:not(#page-previous):not(#page-next):not(.ghost)").count()).toBe(0);
    await page.goto(`${server.baseUrl}/console#/watcher`);
    await page.locator("#watcher-outcome, .card p.muted").first().waitFor();
    expect(await page.locator("#watcher-deactivate, #watcher-activate").count()).toBe(0);
    await page.context().close();
  });

  it("shows a refused action's problem title and detail, and nothing is written", async () => {
    const id = await conducted(server, operator, "Already held");
    const before = await callApi(server, operator, "POST", `/v1/procedures/${id}/hold`, { reason: "first hold" });
    const page = await operatorPage();
    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    await statusIs(page, "Held");
    await page.getByRole("button", { name: "Hold", exact: true }).click();
    await confirmDialog(page, { reason: "second hold" });
    const problem = page.getByRole("alert").locator(".problem");
    await problem.waitFor();
    expect(await problem.locator(".problem-title").textContent()).toBe("Conflict");
    expect(await problem.locator(".problem-class").textContent()).toBe("ProcedureCannotHold");
    expect(await problem.locator(".problem-detail").textContent()).toBe("the operator cause already holds a claim");
    await screenshot(page, "refused-action");
    const after = await callApi(server, operator, "GET", `/v1/procedures/${id}`);
    expect(after.json.version).toBe(before.json.version);
    expect(after.json.last_status_reason).toBe("first hold");
    await page.context().close();
  });

  it("fits a phone-sized screen and works by keyboard", async () => {
    const id = await conducted(server, operator, "Phone check", { asset: "oven-phone" });
    const page = await operatorPage(operator, { width: 390, height: 844 });
    await page.goto(`${server.baseUrl}/console#/?asset=oven-phone`);
    await page.locator(`tr[data-procedure-id="${id}"]`).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(page, "fleet-phone", true);
    // Every form control has a label.
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll("input, select, textarea")].filter((el) => !(el as HTMLInputElement).labels?.length && !el.getAttribute("aria-label")).length,
    );
    expect(unlabelled).toBe(0);
    // From the procedure's link by keyboard: Enter opens it, Hold by keyboard, Escape cancels.
    await page.locator(`#open-${id}`).focus();
    await page.keyboard.press("Enter");
    await statusIs(page, "Running");
    await page.getByRole("button", { name: "Hold", exact: true }).focus();
    await page.keyboard.press("Enter");
    await page.getByRole("dialog").waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("confirm-reason");
    await page.keyboard.press("Escape");
    await page.getByRole("dialog").waitFor({ state: "detached" });
    expect((await callApi(server, operator, "GET", `/v1/procedures/${id}`)).json.status).toBe("Running");
    await page.context().close();
  });

  it("serves an interactive reference where a reader authorizes with a token and tries a request", async () => {
    const { page } = await openPage(browser);
    page.on("request", (request) => void requested.push(request.url()));
    const served = await page.goto(`${server.baseUrl}/docs`);
    expect(served!.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
    await page.getByRole("button", { name: /Authorize/ }).first().click();
    // The first scheme is the bearer token (the second, a stream ticket, stays empty).
    const bearer = page.locator(".modal-ux form").filter({ hasText: "bearer (http, Bearer)" });
    await bearer.locator("input").fill(reader);
    await bearer.locator("button.authorize").click();
    await page.locator(".modal-ux .auth-btn-wrapper button.btn-done").first().click();
    const operation = page.locator(".opblock-get", { has: page.locator('.opblock-summary-path[data-path="/v1/me"]') });
    await operation.locator(".opblock-summary").click();
    await operation.getByRole("button", { name: "Try it out" }).click();
    await operation.getByRole("button", { name: "Execute" }).click();
    const body = operation.locator(".responses-wrapper .live-responses-table .microlight").first();
    await body.waitFor();
    expect(await body.textContent()).toContain('"name": "rita"');
    await operation.scrollIntoViewIfNeeded();
    await screenshot(page, "docs", true, false);
    await page.context().close();
  });

  it("asked no host but the service itself for anything", () => {
    expect(requested.length).toBeGreaterThan(0);
    expect(requested.filter((url) => !url.startsWith(server.baseUrl))).toEqual([]);
  });

  it("ran the console and the reference under their Content-Security-Policy without a violation", () => {
    expect(cspViolations).toEqual([]);
  });
});

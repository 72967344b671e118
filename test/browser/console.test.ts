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
  closePage,
  holdRequests,
  signedInPage,
  startService,
  STEPS,
  tick,
  tokenFor,
  type Server,
} from "./service";

// Never left out in silence: without Chromium the run fails with the command
// to install it, unless BROWSER_TESTS=skip asked to run without them.
const skipBrowser = !chromiumPresent && process.env.BROWSER_TESTS === "skip";
if (skipBrowser) console.warn(`\n*** Browser tests SKIPPED (BROWSER_TESTS=skip): no Chromium at ${CHROMIUM} ***\n`);

if (!chromiumPresent && !skipBrowser) {
  describe("the console in Chromium", () => {
    it("needs Chromium", () => {
      throw new Error(`no Chromium at ${CHROMIUM}: install it with \`sudo apt-get install -y chromium\` (or BROWSER_TESTS=skip to run without the browser tests)`);
    });
  });
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

describe.runIf(chromiumPresent)("the console in Chromium", () => {
  let server: Server;
  let browser: Browser;
  let operator: string;
  let gateway: string;
  let reader: string;
  let admin: string;
  /** What each page the suite opened through operatorPage, and the reference's, requested. */
  const pageRequests: string[][] = [];

  async function operatorPage(token = operator, viewport?: { width: number; height: number }) {
    const opened = await signedInPage(browser, server, token, viewport);
    pageRequests.push(opened.requested);
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

  it("names the time zone of its Updated line, and tells only a reader on this machine where npm start's admin token is", async () => {
    const context = await browser.newContext({ timezoneId: "Asia/Tokyo", locale: "en-US" });
    const page = await context.newPage();
    await page.goto(`${server.baseUrl}/console`);
    const hint = await page.locator("#local-token-hint").textContent();
    expect(hint).toContain("npm start");
    expect(hint).toContain(".dev.vars");
    await page.getByLabel("Bearer token").fill(operator);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#refresh-status time").waitFor();
    expect(await page.locator("#refresh-status").textContent()).toMatch(/^Updated .+ GMT\+9$/);

    // Served under another name, as a deployed service is: no local hint.
    const remote = "http://console.lab.example";
    await page.route(`${remote}/**`, async (route) => route.fulfill({ response: await route.fetch({ url: route.request().url().replace(remote, server.baseUrl) }) }));
    await page.goto(`${remote}/console`);
    await page.getByLabel("Bearer token").waitFor();
    expect(await page.locator("#local-token-hint").count()).toBe(0);
    await closePage(page);
  });

  it("follows a procedure over its live stream: a gateway's entries appear without the page polling", async () => {
    const id = await conducted(server, operator, "Live bake-out");
    const { page, requested: mine, context } = await signedInPage(browser, server, operator);
    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    await page.locator("#live-status", { hasText: "Following live." }).waitFor();
    await stepState(page, 0, "pending");
    const reads = () => mine.filter((url) => url.includes(`/v1/procedures/${id}/activities`) || url.endsWith(`/v1/procedures/${id}`)).length;
    const before = reads();
    const updated = () => page.locator("#refresh-status time").getAttribute("datetime");
    const updatedBefore = await updated();

    await gatewayPosts(server, gateway, id, [report("setpoint", 0, "ok"), report("check", 1, "in_flight")]);
    await stepState(page, 1, "in_flight");
    expect(await page.locator(`li[data-step-index="0"]`).getAttribute("data-state")).toBe("ok");
    await page.locator("#logbook-title + p + div tbody tr").nth(1).waitFor();
    // The foot of the page says when the screen was last brought up to date: the stream's messages count.
    expect(Date.parse((await updated())!)).toBeGreaterThan(Date.parse(updatedBefore!));

    expect(mine.some((url) => url.includes(`/v1/procedures/${id}/stream?ticket=`))).toBe(true);
    // The entries came over the stream: the page read neither the procedure nor its logbook again.
    expect(reads()).toBe(before);
    await context.close();
  });

  it("keeps the newest state and step reports when a read ends after the stream moved on, and says a finished record is final", async () => {
    const id = await conducted(server, operator, "Racing bake-out");
    const { page } = await signedInPage(browser, server, operator);
    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    await page.locator("#live-status", { hasText: "Following live." }).waitFor();
    await gatewayPosts(server, gateway, id, [report("setpoint", 0, "in_flight")]);
    await stepState(page, 0, "in_flight");

    // The page's next read of the logbook is answered as it stands now, but only once the test lets it:
    // the read of the state before it ends with it, so the page's refresh shows both only then.
    const { taken: readTaken, release } = await holdRequests(page, `/v1/procedures/${id}/activities`, { answerFirst: true });
    // Returning to the tab reads the procedure again.
    await page.evaluate(() => {
      document.getElementById("refresh-status")!.textContent = "";
      document.dispatchEvent(new Event("visibilitychange"));
    });
    await readTaken;

    // Meanwhile the stream brings the step's ok, then the abort, the stream's last state.
    await gatewayPosts(server, gateway, id, [report("setpoint", 0, "ok"), report("check", 1, "in_flight")]);
    await stepState(page, 0, "ok");
    expect((await callApi(server, operator, "POST", `/v1/procedures/${id}/abort`, { reason: "door open" })).status).toBe(200);
    await statusIs(page, "Aborted");
    await page.locator("#live-status", { hasText: "Aborted: this record is final" }).waitFor();

    // The slower read ends now, with what was true before: the page keeps what the stream showed.
    release();
    await page.locator("#refresh-status", { hasText: "Updated" }).waitFor();
    expect(await page.locator("#procedure-status .badge").first().textContent()).toBe("Aborted");
    expect(await page.locator(`li[data-step-index="0"]`).getAttribute("data-state")).toBe("ok");
    expect(await page.locator(`li[data-step-index="1"]`).getAttribute("data-state")).toBe("in_flight");
    expect(await page.locator("#live-status").textContent()).toContain("final");
    await closePage(page);
  });

  it("opens no stream for a procedure page left before its first read ended", async () => {
    const id = await conducted(server, operator, "Left at once");
    const { page, requested: mine } = await signedInPage(browser, server, operator);
    const { taken: readTaken, release } = await holdRequests(page, `/v1/procedures/${id}`, { answerFirst: false });
    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    await readTaken;
    await page.goto(`${server.baseUrl}/console#/`);
    await page.locator("#fleet-rows").waitFor();
    // The read ends after the page was left: the reads it starts come, the stream does not.
    const logbookRead = page.waitForRequest((request) => new URL(request.url()).pathname === `/v1/procedures/${id}/activities`);
    release();
    await logbookRead;
    expect(mine.filter((url) => new URL(url).pathname === `/v1/procedures/${id}/stream-ticket`)).toEqual([]);
    await closePage(page);
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
    // How long the step took, from its first report to its ok.
    expect(await page.locator(`li[data-step-index="0"] .step-took`).textContent()).toMatch(/^took (under 1 s|\d+ s)$/);
    // The logbook: who reported, the payload collapsed until asked for.
    const newest = page.locator("#logbook-title ~ div tbody tr").first();
    await newest.locator(".who-ran", { hasText: "beamline-7" }).waitFor();
    const payload = newest.locator("details.payload");
    expect(await payload.getAttribute("open")).toBeNull();
    expect(await payload.locator("pre").isVisible()).toBe(false);
    await payload.locator("summary").click();
    expect(await payload.locator("pre").textContent()).toContain('"step_index": 2');
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

  it("orders the fleet by what needs attention, searches as one types, and reads only the list to refresh", async () => {
    const tag = uuidv7().slice(-6);
    const kind = `fleet-${tag}`;
    const registered = await callApi(server, operator, "POST", "/v1/procedures", { name: `Leak check ${tag}`, kind, target_asset_ids: ["line-2"] });
    const defined: string = registered.json.procedure_id;
    const running = await conducted(server, operator, `Bake-out ${tag}`, { kind });
    const held = await conducted(server, operator, `Anneal ${tag}`, { kind });
    expect((await callApi(server, operator, "POST", `/v1/procedures/${held}/hold`, { reason: "door open" })).status).toBe(200);
    await projected(server, operator, held, "Held");
    await projected(server, operator, running, "Running");

    const { page, requested: mine, context } = await signedInPage(browser, server, operator);
    await page.goto(`${server.baseUrl}/console#/?kind=${kind.toUpperCase()}`);
    const order = () => page.locator("#fleet-rows tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-procedure-id")));
    await expect.poll(order).toEqual([held, running, defined]);
    expect(await page.locator("#filter-order").inputValue()).toBe("attention");

    await page.locator("#filter-order").selectOption("oldest");
    await expect.poll(order).toEqual([defined, running, held]);
    expect(page.url()).toContain("order=oldest");

    // Each keystroke narrows the list; the address keeps the search.
    await page.locator("#filter-q").pressSequentially("bake", { delay: 30 });
    await expect.poll(order).toEqual([running]);
    expect(decodeURIComponent(page.url())).toContain("q=bake");
    await page.locator("#filter-q").fill(`anneal ${tag}`);
    await expect.poll(order).toEqual([held]);
    await page.locator("#filter-q").fill("nothing-matches-this");
    await page.locator("#fleet-rows .empty").waitFor();
    await screenshot(page, "fleet-search");

    // Refreshes read the list, never each row's procedure.
    const perRow = mine.filter((url) => /\/v1\/procedures\/[0-9a-f-]{36}($|\?)/.test(url));
    expect(perRow).toEqual([]);
    expect(mine.some((url) => url.includes("/v1/decisions"))).toBe(false);
    await context.close();
  });

  it("says an empty fleet has no procedures yet, and how to start one, unless a filter is set", async () => {
    const page = await operatorPage();
    // A lab's first visit: the list answers an empty page whatever it is asked.
    await page.route(/\/v1\/procedures\?/, (route) => route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ items: [], next_cursor: null }) }));
    await page.goto(`${server.baseUrl}/console#/`);
    const empty = page.locator("#fleet-rows .empty");
    await empty.waitFor();
    expect(await empty.textContent()).toBe("No procedures yet. Start a procedure: register it, give it its steps, and it shows here.");
    expect(await empty.locator("a").getAttribute("href")).toBe("#/start");
    // A filter set: the list found nothing among what exists.
    await page.locator("#filter-status").selectOption("Held");
    await page.locator("#fleet-rows .empty", { hasText: "No procedures match these filters." }).waitFor();
    await page.locator("#filter-status").selectOption("");
    await page.locator("#filter-q").fill("bake");
    await page.locator("#fleet-rows .empty", { hasText: 'No procedure\'s name or kind matches "bake".' }).waitFor();
    await closePage(page);
  });

  it("starts a procedure from a template: preview of the pinned list, start, a gateway's reports, Completed", async () => {
    const tag = uuidv7().slice(-6);
    const saved = await callApi(server, operator, "PUT", `/v1/templates/Quick bake ${tag}`, {
      description: "heat, then open the valve",
      kind: "thermal",
      // What the editor cannot show at a glance still carries over: the stall rung, the window, a step's deadline.
      conduct: { steps: [{ ...STEPS.heat, deadline_seconds: 30 }, STEPS.valve], on_failure: "hold", on_stall: "hold", stale_after_seconds: 600 },
    });
    expect(saved.status).toBe(200);
    const page = await operatorPage();
    await page.goto(`${server.baseUrl}/console#/`);
    await page.locator("#fleet-start").click();
    await page.locator("#start-name").fill(`Bake from template ${tag}`);
    await page.locator("#start-template").selectOption(`Quick bake ${tag}`);
    await page.locator("#preview-count", { hasText: "2 steps will be pinned" }).waitFor();
    expect(await page.locator("#start-kind").inputValue()).toBe("thermal");
    expect(await page.locator("#start-preview li").allTextContents()).toEqual(["#0 setpoint oven.zone_a ← 120 (verified)", '#1 action open_valve {"valve":"v3"}']);
    await screenshot(page, "start-from-template", true);
    await page.locator("#start-conducted").click();
    await page.waitForURL(/#\/procedures\//);
    const id = page.url().split("/procedures/")[1]!;
    await statusIs(page, "Running");
    await stepState(page, 0, "pending");
    await gatewayPosts(server, gateway, id, [report("setpoint", 0, "ok"), report("action", 1, "ok")]);
    await statusIs(page, "Completed");
    const state = await callApi(server, operator, "GET", `/v1/procedures/${id}`);
    expect(state.json).toMatchObject({ name: `Bake from template ${tag}`, kind: "thermal", step_count: 2, status: "Completed", on_failure: "hold", on_stall: "hold", stale_after_seconds: 600 });
    const manifest = await callApi(server, operator, "GET", `/v1/procedures/${id}/manifest`);
    expect(manifest.json.resolved_steps[0]).toMatchObject({ kind: "setpoint", deadline_seconds: 30 });
    await page.context().close();
  });

  it("builds steps in the editor: add, reorder and remove, the service's refusals beside the fields, save as a template, and a start without steps", async () => {
    const tag = uuidv7().slice(-6);
    const page = await operatorPage();
    const registered: string[] = [];
    page.on("request", (request) => {
      if (request.method() === "POST" && new URL(request.url()).pathname === "/v1/procedures") registered.push(request.url());
    });
    await page.goto(`${server.baseUrl}/console#/start`);
    await page.locator("#steps-add-kind").selectOption("setpoint");
    await page.locator("#steps-add").click();
    // Nothing typed yet: the dry run refuses the empty fields, but no field is scolded and the preview has
    // no red summary either, only what to do.
    await page.locator("#preview-incomplete", { hasText: "Fill in the steps' fields" }).waitFor();
    expect(await page.locator("#preview-refused").count()).toBe(0);
    expect((await page.locator("#step-editor .field-error").allTextContents()).join("")).toBe("");
    expect(await page.locator("#step-editor [aria-invalid]").count()).toBe(0);
    // Typed into: that field's refusal shows, in plain words (the service's own on hover); the untouched one stays quiet.
    await page.locator("#steps-0-value").fill("hot");
    await page.locator("#steps-0-value-error", { hasText: "Enter a number." }).waitFor();
    await page.locator("#preview-refused", { hasText: "The service would refuse these steps. See the marked fields." }).waitFor();
    expect(await page.locator("#steps-0-value-error").getAttribute("title")).toMatch(/expected number/);
    expect(await page.locator("#steps-0-address-error").textContent()).toBe("");
    await page.locator("#steps-0-value").fill("");
    await page.locator("#steps-0-value-error", { hasText: "Needs a value." }).waitFor();
    expect(await page.locator("#steps-0-address-error").textContent()).toBe("");
    // Asking to start shows every refusal and goes to the first; nothing is registered.
    await page.locator("#start-name").fill(`Draft ${tag}`);
    await page.locator("#start-kind").fill("thermal");
    await page.locator("#start-conducted").click();
    await page.locator("#steps-0-address-error", { hasText: "Needs a value." }).waitFor();
    expect(await page.locator("#steps-0-address").getAttribute("aria-invalid")).toBe("true");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("steps-0-address");
    expect(registered).toEqual([]);
    await page.locator("#steps-0-address").fill("oven.zone_a");
    await page.locator("#steps-0-value").fill("hot");
    await page.locator("#steps-0-value-error", { hasText: "Enter a number." }).waitFor();
    await page.locator("#steps-0-value").fill("120");
    await page.locator("#preview-count", { hasText: "1 step will be pinned" }).waitFor();
    expect(await page.locator("#steps-0-address").getAttribute("aria-invalid")).toBeNull();

    await page.locator("#steps-add-kind").selectOption("scan");
    await page.locator("#steps-add").click();
    await page.locator("#steps-1-address").fill("stage.x");
    await page.locator("#steps-1-start").fill("0");
    await page.locator("#steps-1-stop").fill("1");
    await page.locator("#steps-1-points").fill("3");
    await page.locator("#preview-count", { hasText: "4 steps will be pinned" }).waitFor();

    await page.locator("#steps-add-kind").selectOption("repeat");
    await page.locator("#steps-add").click();
    await page.locator("#steps-2-steps-add-kind").selectOption("capture");
    await page.locator("#steps-2-steps-add").click();
    await page.locator("#steps-2-steps-0-address").fill("detector");
    await page.locator("#steps-2-steps-0-capture_name").fill("frame");
    await page.locator("#preview-count", { hasText: "6 steps will be pinned" }).waitFor();
    await screenshot(page, "start-editor", true);
    // One numbering: the editor names each step by its index in the request, as the API does (steps.2.steps.0),
    // and the preview each resolved step by the index it will be pinned at, as the procedure's page shows it.
    expect(await page.locator("#step-editor .editor-step-name").allTextContents()).toEqual(["#0 setpoint", "#1 scan", "#2 repeat", "#2.0 capture"]);
    expect(await page.locator("#start-preview .step-index").allTextContents()).toEqual(["#0", "#1", "#2", "#3", "#4", "#5"]);

    const kinds = () => page.locator("#step-editor > .editor-list > ol > li").evaluateAll((items) => items.map((i) => i.getAttribute("data-kind")));
    await page.getByRole("button", { name: "Move step #1 up" }).click();
    expect(await kinds()).toEqual(["scan", "setpoint", "repeat"]);
    await expect.poll(() => page.locator("#start-preview li").first().textContent()).toContain("stage.x ← 0");
    expect(await page.locator("#preview-count").textContent()).toContain("6 steps");
    await page.getByRole("button", { name: "Remove step #0", exact: true }).click();
    expect(await kinds()).toEqual(["setpoint", "repeat"]);
    await page.locator("#preview-count", { hasText: "3 steps will be pinned" }).waitFor();

    await page.locator("#start-kind").fill("thermal");
    await page.locator("#template-name").fill(`Editor ${tag}`);
    await page.locator("#save-template").click();
    await page.locator("#template-status", { hasText: `Saved as "Editor ${tag}".` }).waitFor();
    const template = await callApi(server, operator, "GET", `/v1/templates/${encodeURIComponent(`Editor ${tag}`)}`);
    expect(template.json).toMatchObject({ kind: "thermal", conduct: { steps: [{ kind: "setpoint", address: "oven.zone_a", value: 120 }, { kind: "repeat", times: 2 }] } });

    // Without steps: a free-form procedure, Running at once.
    await page.locator("#start-name").fill(`Free-form ${tag}`);
    await page.locator("#start-free").click();
    await page.waitForURL(/#\/procedures\//);
    await statusIs(page, "Running");
    const id = page.url().split("/procedures/")[1]!;
    expect((await callApi(server, operator, "GET", `/v1/procedures/${id}`)).json).toMatchObject({ name: `Free-form ${tag}`, step_count: null, status: "Running" });
    await page.context().close();
  });

  it("shows a reader no way to start a procedure", async () => {
    const page = await operatorPage(reader);
    await page.goto(`${server.baseUrl}/console#/`);
    await page.locator("#fleet-rows").waitFor();
    expect(await page.locator("#fleet-start").count()).toBe(0);
    expect(await page.locator('nav a[href="#/start"]').count()).toBe(0);
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
    // Who holds the claim, by name as the event log says it; the claim's id only on hover.
    const claim = page.locator('#hold-claims li[data-cause="operator"]');
    await claim.locator(".who-held", { hasText: "alice" }).waitFor();
    expect(await claim.textContent()).toBe("operator held by alice");
    const held = await callApi(server, operator, "GET", `/v1/procedures/${id}`);
    expect(await claim.getAttribute("title")).toBe(`claim ${held.json.hold_claims[0].claim_id}`);
    expect(held.json).toMatchObject({ status: "Held", last_status_reason: "door opened", hold_claims: [{ cause: "operator" }] });
    // Held: no second Hold on offer, and how long it has been held.
    expect(await page.getByRole("button", { name: "Hold", exact: true }).count()).toBe(0);
    await page.locator("#held-for", { hasText: /^held for (under 1 s|\d+ s)$/ }).waitFor();

    // Two ways to resume, each saying what it does: where it stopped (conduct-from), or from a step one enters (resume).
    await page.getByRole("button", { name: "Resume where it stopped (#0)", exact: true }).click();
    const here = page.getByRole("dialog");
    await here.getByText("Every pinned step runs again, from #0 on, exactly as pinned.", { exact: false }).waitFor();
    expect(await here.textContent()).not.toMatch(/before (step )?#?0\b/);
    await here.locator("[data-cancel]").click();
    await here.waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Resume from a chosen step…", exact: true }).click();
    const chosen = page.getByRole("dialog");
    await chosen.getByText("replays the pinned steps from the step you enter", { exact: false }).waitFor();
    const boundary = chosen.getByLabel("Replay from step #");
    expect(await boundary.inputValue()).toBe("0");
    await confirmDialog(page);
    await statusIs(page, "Running");
    const resumed = await callApi(server, operator, "GET", `/v1/procedures/${id}`);
    expect(resumed.json).toMatchObject({ status: "Running", hold_claims: [] });
    // The event log in plain words, with who ran each command and how long the hold lasted.
    const resumedRow = page.locator('tr[data-event-type="ProcedureResumed"]');
    await resumedRow.locator(".who-ran", { hasText: "alice" }).waitFor();
    expect(await resumedRow.locator('td[data-label="Event"]').textContent()).toBe("Resumed");
    expect(await resumedRow.locator('td[data-label="Details"]').textContent()).toMatch(/from step #0 · after a hold of (under 1 s|\d+ s)/);
    expect(await page.locator('tr[data-event-type="ResolvedStepsRecorded"] td[data-label="Event"]').textContent()).toBe("Steps resolved and pinned");
    // Each version once, however the stream and the reads interleaved.
    const versions = await page.locator('#events-title ~ div tbody td[data-label="Version"]').allTextContents();
    expect(versions).toEqual([...new Set(versions)]);
    // Times name their zone and give UTC on hover.
    expect(await resumedRow.locator("time").getAttribute("title")).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
    expect(await resumedRow.locator("time").textContent()).toMatch(/UTC|GMT|[A-Z]{2,5}/);
    await page.context().close();
  });

  it("shows a failed step holding the procedure by step-fault, conducts from the suggested boundary, and gives the go-ahead", async () => {
    const id = await conducted(server, operator, "Leak check", { asset: "chamber-2" });
    await gatewayPosts(server, gateway, id, [report("setpoint", 0, "ok"), report("check", 1, "failed", { error_class: "OutOfTolerance", message: "117.2" })]);
    const page = await operatorPage();
    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    await statusIs(page, "Held");
    await page.locator('#hold-claims li[data-cause="step-fault"] .who-held', { hasText: "beamline-7" }).waitFor();
    await stepState(page, 1, "failed");
    expect(await page.locator(`li[data-step-index="1"] .step-failure`).textContent()).toBe("OutOfTolerance: 117.2");
    const marker = page.locator("li.boundary");
    expect(await marker.getAttribute("aria-label")).toBe("Suggested resume boundary: #1");
    // The step is named as everywhere else: its index, then its kind; the service's own words on hover.
    expect(await marker.locator("strong").textContent()).toBe("Suggested resume boundary: #1 check");
    expect(await page.locator("#status-reason").textContent()).toBe("Reason: #1 check oven.zone_a failed: OutOfTolerance: 117.2");
    expect(await page.locator("#status-reason").getAttribute("title")).toBe("check[1] oven.zone_a failed: OutOfTolerance: 117.2");
    expect(await page.locator(`li[data-step-index="1"] .step-index`).textContent()).toBe("#1");
    // The marker sits right before the step it names.
    expect(await marker.evaluate((el) => el.nextElementSibling?.getAttribute("data-step-index"))).toBe("1");
    await screenshot(page, "procedure-held", true);

    await page.getByRole("button", { name: "Resume where it stopped (#1)" }).click();
    await page.getByRole("dialog").getByText("#0 stays done; the pinned steps run again from #1 on, exactly as pinned.", { exact: false }).waitFor();
    await confirmDialog(page);
    await statusIs(page, "Running");
    // The replayed action waits for the operator; the gateway is refused until then.
    await stepState(page, 2, "awaiting_go_ahead");
    expect(await page.locator(`li[data-step-index="2"] .step-why`).textContent()).toContain("waits for an operator");
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
    // The fleet agrees with the page: the watcher's own hold is not progress, so the procedure is still stalled.
    await projected(server, operator, id, "Held");
    await page.goto(`${server.baseUrl}/console#/?asset=oven-act`);
    const row = page.locator(`tr[data-procedure-id="${id}"]`);
    await row.locator(".badge.stall").waitFor();
    expect(await row.getAttribute("data-stalled")).toBe("true");
    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    await statusIs(page, "Held");
    await page.locator('#hold-claims li[data-cause="stall"]').waitFor();
    await page.locator(`#open-stall[data-decision-id="${held.json.open_stall_decision_id}"]`).waitFor();
    await page.getByRole("button", { name: "Resume from a chosen step…", exact: true }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByText("It stalled at step #1; resume anyway?").waitFor();
    await screenshot(page, "resume-after-stall");
    expect(await dialog.locator("button[type=submit]").textContent()).toBe("Resume anyway");
    await dialog.getByLabel("Replay from step #").fill("1");
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
      await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.baseUrl });
      await page.locator("#subscription-secret-copy").click();
      await page.locator("#subscription-secret-copied", { hasText: "Copied." }).waitFor();
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(await secret.textContent());

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

  it("checks a subscription's fields before sending: a URL the service will not post to, no event type, no ping to choose; nothing is sent or written", async () => {
    const page = await operatorPage();
    const posts: string[] = [];
    page.on("request", (request) => {
      if (request.method() === "POST" && request.url().endsWith("/v1/subscriptions")) posts.push(request.url());
    });
    await page.goto(`${server.baseUrl}/console#/subscriptions`);
    expect(await page.getByLabel("ping").count()).toBe(0);
    await page.getByRole("button", { name: "Create subscription" }).click();
    await page.locator("#subscription-url-error", { hasText: "full URL" }).waitFor();
    expect(await page.locator("#subscription-types-error").textContent()).toBe("Choose at least one event type.");
    const url = `http://hooks-${uuidv7()}.example.org/`;
    await page.getByLabel("Receiver URL").fill(url);
    await page.getByLabel("procedure.held").check();
    await page.getByRole("button", { name: "Create subscription" }).click();
    await page.locator("#subscription-url-error", { hasText: "only to https://" }).waitFor();
    expect(await page.getByLabel("Receiver URL").getAttribute("aria-invalid")).toBe("true");
    expect(await page.locator("#subscription-types-error").textContent()).toBe("");
    expect(posts).toEqual([]);
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
    const running = await callApi(server, operator, "GET", `/v1/procedures/${id}`);
    const page = await operatorPage();
    // A page that has not heard of the hold yet (its stream down, its reads answered from before),
    // so it still offers Hold, which the service refuses.
    await page.route(/\/stream(-ticket)?(\?|$)/, (route) => route.abort());
    await page.route(new RegExp(`/v1/procedures/${id}$`), (route) => route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(running.json) }));
    const before = await callApi(server, operator, "POST", `/v1/procedures/${id}/hold`, { reason: "first hold" });
    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    await statusIs(page, "Running");
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
    await closePage(page);
  });

  it("keeps each name in the event log's Who column on one line at 1280 px", async () => {
    // Registered and conducted by the bootstrap admin, held with a long reason: the Details column wants the room.
    const id = await conducted(server, server.token, "Who column");
    await callApi(server, server.token, "POST", `/v1/procedures/${id}/hold`, { reason: "door opened on zone A while the chamber was still warm; waiting for the facility team to check the seal" });
    const page = await operatorPage(operator, { width: 1280, height: 900 });
    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    const cells = page.locator('#events-title ~ div td[data-label="Who"]');
    await cells.filter({ hasText: "bootstrap-admin" }).first().waitFor();
    const lines = await cells.evaluateAll((tds) =>
      tds.map((td) => {
        const range = document.createRange();
        range.selectNodeContents(td);
        return [td.textContent, new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size];
      }),
    );
    expect(lines.filter(([, count]) => count !== 1)).toEqual([]);
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
    const { page, requested } = await openPage(browser);
    pageRequests.push(requested);
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
    const requested = pageRequests.flat();
    expect(requested.length).toBeGreaterThan(0);
    expect(requested.filter((url) => !url.startsWith(server.baseUrl))).toEqual([]);
  });

  it("ran the console and the reference under their Content-Security-Policy without a violation", () => {
    expect(cspViolations).toEqual([]);
  });
});

// An archived procedure in Chromium against wrangler dev: the Cron Trigger
// archives a finished procedure (fired as if 31 days later, past the default
// ARCHIVE_AFTER_SECONDS), and the console shows it archived: a badge on its
// fleet row and on its page, no commands, no live stream (the service would
// refuse its ticket), and the record read once instead of polled.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callApi, chromiumPresent, conducted, launchChromium, openPage, projected, signIn, startService, tick, tokenFor, type Server } from "./service";

const DAY_MS = 86_400_000;

describe.skipIf(!chromiumPresent)("an archived procedure in Chromium", () => {
  let server: Server;
  let browser: Browser;
  let operator: string;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startService(), launchChromium()]);
    operator = await tokenFor(server, "alice", "operator");
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Aborts a conducted procedure and fires the Cron Trigger until its state says archived. */
  async function archivedProcedure(): Promise<{ id: string; archivedAt: string }> {
    const id = await conducted(server, operator, "Bake archived", { asset: "oven-archive" });
    expect((await callApi(server, operator, "POST", `/v1/procedures/${id}/abort`, { reason: "done with it" })).status).toBe(200);
    await projected(server, operator, id, "Aborted");
    const deadline = Date.now() + 20_000;
    for (;;) {
      await tick(server, Date.now() + 31 * DAY_MS);
      const state = await callApi(server, operator, "GET", `/v1/procedures/${id}`);
      if (state.json.archived_at) return { id, archivedAt: state.json.archived_at };
      if (Date.now() > deadline) throw new Error(`procedure ${id} not archived`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  it("shows the Archived badge, offers no commands, opens no stream and reads the record once", async () => {
    const { id, archivedAt } = await archivedProcedure();
    const live = await conducted(server, operator, "Bake live", { asset: "oven-archive" });
    const { context, page, requested } = await openPage(browser);
    // The page's timers on a clock the test moves: its polls run without the test waiting for them.
    await page.clock.install();
    await signIn(page, server, operator);

    // The fleet: the archived row has the badge, the live one not.
    await page.goto(`${server.baseUrl}/console#/?asset=oven-archive`);
    await page.locator(`tr[data-procedure-id="${live}"]`).waitFor();
    const row = page.locator(`tr[data-procedure-id="${id}"]`);
    await row.locator(".badge.archived").waitFor();
    expect(await row.getAttribute("data-archived")).toBe("true");
    expect(await page.locator(`tr[data-procedure-id="${live}"] .badge.archived`).count()).toBe(0);

    // The page: badge, time, the export named, no command buttons.
    requested.length = 0;
    await page.goto(`${server.baseUrl}/console#/procedures/${id}`);
    await page.locator("#procedure-status .badge.archived").waitFor();
    expect(await page.locator("#archived-at time").getAttribute("datetime")).toBe(archivedAt);
    await page.locator("#live-status", { hasText: `GET /v1/procedures/${id}/export` }).waitFor();
    await page.locator('[data-event-type="ProcedureAborted"]').waitFor();
    expect(await page.locator(".actions button").count()).toBe(0);

    // Well past the page's poll interval and the stream's retries: nothing asks for a stream, and each read was made once.
    await page.clock.runFor(40_000);
    // A request of the page's own after the timers ran: whatever they asked for is recorded before it.
    await page.evaluate(() => fetch(location.pathname).then((r) => r.status));
    const path = (url: string) => new URL(url).pathname;
    expect(requested.filter((url) => /\/stream(-ticket)?$/.test(path(url)))).toEqual([]);
    expect(requested.filter((url) => path(url) === `/v1/procedures/${id}`)).toHaveLength(1);
    expect(requested.filter((url) => path(url) === `/v1/procedures/${id}/events`)).toHaveLength(1);
    expect(requested.filter((url) => path(url) === `/v1/procedures/${id}/activities`)).toHaveLength(1);

    // A live procedure still follows its stream and offers its commands.
    await page.goto(`${server.baseUrl}/console#/procedures/${live}`);
    await page.locator("#live-status", { hasText: "Following live." }).waitFor();
    expect(await page.getByRole("button", { name: "Hold", exact: true }).count()).toBe(1);
    expect(requested.some((url) => path(url) === `/v1/procedures/${live}/stream-ticket`)).toBe(true);
    await context.close();
  });
});

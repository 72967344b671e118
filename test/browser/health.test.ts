// The Health page in Chromium against wrangler dev: an admin sees the recent
// ticks, the last hour's refusals and rate-limit hits, and a failed delivery
// it sends again with one button, which the receiver then gets; a non-admin
// is not offered the page.
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../bench/lib.mjs";
import { uuidv7 } from "../../src/ids";
import { callApi, chromiumPresent, launchChromium, openPage, signIn, startService, tick, tokenFor, type Server } from "./service";

/** Writes rows into the running service's local D1, as a delivery that used up its attempts would have left them. */
function seedD1(server: Server, sql: string) {
  execFileSync(
    process.execPath,
    [join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js"), "d1", "execute", "DB", "--local", "--persist-to", join(server.dir, "state"), "-c", join(ROOT, "wrangler.toml"), "--command", sql],
    { cwd: ROOT, stdio: "ignore", env: { ...process.env, ADMIN_TOKEN: server.token, WEBHOOK_SIGNING_KEY: "bench-webhook-signing-key-0123456789" } },
  );
}

describe.skipIf(!chromiumPresent)("the Health page in Chromium", () => {
  let server: Server;
  let browser: Browser;
  let admin: string;
  let operator: string;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startService(), launchChromium()]);
    [admin, operator] = await Promise.all([tokenFor(server, "ops-admin", "admin"), tokenFor(server, "alice", "operator")]);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("shows the recent ticks, the last hour's refusals, and sends a failed delivery again", async () => {
    const received: Array<{ id: string | undefined; requestId: string | undefined }> = [];
    const receiver = createServer((req, res) => {
      received.push({ id: req.headers["webhook-id"] as string | undefined, requestId: req.headers["x-request-id"] as string | undefined });
      req.resume();
      res.writeHead(204).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const subscription = await callApi(server, admin, "POST", "/v1/subscriptions", { url, event_types: ["ping"] });
      expect(subscription.status).toBe(201);
      const deliveryId = uuidv7();
      const webhookId = `msg_${uuidv7()}`;
      const notification = JSON.stringify({ webhook_id: webhookId, type: "ping", timestamp: new Date().toISOString(), data: { subscription_id: subscription.json.subscription_id }, subject: null });
      seedD1(
        server,
        `INSERT INTO deliveries (delivery_id, subscription_id, webhook_id, event_type, attempt, status_code, outcome, attempted_at, notification)
         VALUES ('${deliveryId}', '${subscription.json.subscription_id}', '${webhookId}', 'ping', 6, 500, 'failed', '${new Date().toISOString()}', '${notification}')`,
      );

      await tick(server, Date.now());
      await tick(server, Date.now() + 60_000);
      for (let i = 0; i < 3; i++) expect((await callApi(server, "not-a-token-anyone-holds", "GET", "/v1/me")).status).toBe(401);
      expect((await callApi(server, operator, "GET", "/v1/principals")).status).toBe(403);

      const { page, context } = await openPage(browser);
      await signIn(page, server, admin);
      await page.getByRole("link", { name: "Health" }).click();
      await page.locator("#view-title", { hasText: "Health" }).waitFor();

      // Two ticks, newest first.
      await page.locator("tr[data-tick]").nth(1).waitFor();
      const ticks = await page.locator("tr[data-tick]").evaluateAll((rows) => rows.map((row) => row.getAttribute("data-tick")));
      expect(ticks.length).toBeGreaterThanOrEqual(2);
      expect([...ticks].sort().reverse()).toEqual(ticks);
      expect(await page.locator("tr[data-tick]").first().locator('td[data-label="Outcome"]').textContent()).toBe("ran");

      // The refusals: counted after each response, so the page may need a refresh to see the last.
      await page.locator('tr[data-error-class="Unauthenticated"]').waitFor();
      expect(Number(await page.locator("#health-refused").textContent())).toBeGreaterThanOrEqual(4);
      expect(await page.locator('tr[data-error-class="Forbidden"] td[data-label="Status"]').textContent()).toBe("403");
      expect(await page.locator("#health-rate-limited").textContent()).toBe("0");

      // The failed delivery, sent again with its button.
      const row = page.locator(`tr[data-delivery-id="${deliveryId}"]`);
      await row.waitFor();
      expect(await row.locator('td[data-label="Status"]').textContent()).toBe("500");
      await row.getByRole("button", { name: /Redeliver/ }).click();
      const dialog = page.getByRole("dialog");
      await dialog.waitFor();
      await dialog.locator("button[type=submit]").click();
      await dialog.waitFor({ state: "detached" });
      expect(await page.locator("#problem .problem").count()).toBe(0);
      const deadline = Date.now() + 30_000;
      while (!received.some((r) => r.id === webhookId) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
      const redelivered = received.find((r) => r.id === webhookId);
      expect(redelivered).toBeDefined();
      // Under the id of the request that asked for it.
      expect(redelivered!.requestId).toMatch(/^[0-9a-f-]{36}$/);
      await context.close();
    } finally {
      receiver.close();
    }
  });

  it("is not offered to an operator", async () => {
    const { page, context } = await openPage(browser);
    await signIn(page, server, operator);
    expect(await page.getByRole("link", { name: "Health" }).count()).toBe(0);
    await context.close();
  });
});

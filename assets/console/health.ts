// The Health page (admins): the watcher's recent ticks, the webhook deliveries
// that failed for good (each may be sent again), and the last hour's refusals
// and rate-limit hits. Everything comes from the public API, as any client's.
import { query } from "./api";
import { card, h, shortId, time } from "./dom";
import type { DeliveryRecord, Page, Refusals, WatcherStatus } from "./types";
import { patch, type View, type ViewContext } from "./view";

const FAILED_PAGE = 25;
/** Ticks shown: the last half hour of minutely ticks. */
const TICKS_SHOWN = 30;

function table(labels: string[], rows: HTMLElement[], empty: string): HTMLElement {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h("table", {}, h("thead", {}, h("tr", {}, ...labels.map((l) => h("th", { scope: "col" }, l)))), h("tbody", {}, ...rows)),
  );
}

function cell(label: string, ...content: Array<Node | string>): HTMLElement {
  return h("td", { "data-label": label }, ...content);
}

export function healthView(ctx: ViewContext): View {
  const ticks = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const failed = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const refusals = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const element = h(
    "section",
    { "aria-labelledby": "view-title" },
    h("h1", { id: "view-title", tabindex: -1 }, "Health"),
    card("Refusals, last hour", "health-refusals-title", refusals),
    card("Failed deliveries", "health-failed-title", h("p", { class: "muted" }, "Webhook deliveries that used up their attempts, newest first."), failed),
    card("Watcher ticks", "health-ticks-title", ticks),
  );

  function redeliver(d: DeliveryRecord): HTMLElement | string {
    if (!d.redeliverable || !ctx.can("RedeliverDelivery")) return "—";
    return h(
      "button",
      {
        type: "button",
        class: "secondary",
        id: `redeliver-${d.delivery_id}`,
        "aria-label": `Redeliver ${d.event_type} to subscription ${shortId(d.subscription_id)}`,
        onclick: () =>
          void ctx.act(
            { title: "Redeliver", message: `Sends ${d.event_type} to subscription ${shortId(d.subscription_id)} again, under its webhook-id.`, confirmLabel: "Redeliver" },
            () => ctx.api("POST", `/v1/deliveries/${d.delivery_id}/redeliver`),
          ),
      },
      "Redeliver",
    );
  }

  return {
    element,
    intervalMs: 15000,
    async refresh() {
      const [watcher, page, counts] = await Promise.all([
        ctx.api<WatcherStatus>("GET", "/v1/watcher"),
        ctx.api<Page<DeliveryRecord>>("GET", `/v1/deliveries${query({ outcome: "failed", limit: FAILED_PAGE })}`),
        ctx.api<Refusals>("GET", "/v1/refusals"),
      ]);
      patch(refusals, JSON.stringify(counts), () => [
        h(
          "dl",
          { class: "facts" },
          h("div", {}, h("dt", {}, "Refused"), h("dd", { id: "health-refused" }, String(counts.total))),
          h("div", {}, h("dt", {}, "Rate-limited"), h("dd", { id: "health-rate-limited" }, String(counts.rate_limited))),
          h("div", {}, h("dt", {}, "Since"), h("dd", {}, time(counts.since))),
        ),
        table(
          ["Error class", "Status", "Count"],
          counts.by_error_class.map((row) =>
            h("tr", { "data-error-class": row.error_class }, cell("Error class", h("code", {}, row.error_class)), cell("Status", String(row.status)), cell("Count", String(row.count))),
          ),
          "No refusals in the last hour.",
        ),
      ]);
      patch(failed, JSON.stringify(page.items.map((d) => [d.delivery_id, d.redeliverable])), () => [
        table(
          ["Attempted", "Event", "Subscription", "Status", "Attempt", ""],
          page.items.map((d) =>
            h(
              "tr",
              { "data-delivery-id": d.delivery_id },
              cell("Attempted", time(d.attempted_at)),
              cell("Event", d.event_type),
              cell("Subscription", h("span", { class: "mono", title: d.subscription_id }, shortId(d.subscription_id))),
              cell("Status", d.status_code === null ? "no answer" : String(d.status_code)),
              cell("Attempt", String(d.attempt)),
              cell("Action", redeliver(d)),
            ),
          ),
          "No failed deliveries.",
        ),
      ]);
      const recent = watcher.recent_ticks.slice(0, TICKS_SHOWN);
      patch(ticks, JSON.stringify([watcher.enabled, recent]), () => [
        watcher.enabled ? null : h("p", { class: "muted" }, "The watcher is disabled (WATCHER_ENABLED): its ticks judge no procedure. They still archive finished procedures and apply the retention windows; only the ticks that did (or failed at) some of that are listed."),
        table(
          ["Started", "Outcome", "Duration", "Rows read", "Candidates", "Flagged", "Acted", "Archived", "Failures"],
          recent.map((t) =>
            h(
              "tr",
              { "data-tick": t.started_at, class: t.failures > 0 ? "attention" : "" },
              cell("Started", time(t.started_at)),
              cell("Outcome", t.outcome),
              cell("Duration", `${t.duration_ms} ms`),
              cell("Rows read", String(t.rows_read)),
              cell("Candidates", String(t.candidates)),
              cell("Flagged", String(t.flagged)),
              cell("Acted", String(t.acted)),
              cell("Archived", String(t.archived)),
              cell("Failures", String(t.failures)),
            ),
          ),
          "No ticks kept yet.",
        ),
      ].filter((node): node is HTMLElement => node !== null));
    },
  };
}

// The stall watcher: its configuration, its agent, the last tick, and for an
// admin the kill switch (deactivating the watcher's agent).
import { duration, h, servedLocally, time } from "./dom";
import type { WatcherStatus } from "./types";
import { patch, type View, type ViewContext } from "./view";

function fact(term: string, value: Node | string): HTMLElement {
  return h("div", {}, h("dt", {}, term), h("dd", {}, value));
}

const yesNo = (value: boolean) => (value ? "yes" : "no");

/** A window in hours, with the seconds the configuration holds. */
const hours = (seconds: number) => `${duration(seconds * 1000)} (${seconds} s)`;

/** How many ticks the page keeps once it has seen them (the service keeps the last). */
const TICKS_KEPT = 10;

export function watcherView(ctx: ViewContext): View {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const seen: NonNullable<WatcherStatus["last_tick"]>[] = [];
  const element = h("section", { "aria-labelledby": "view-title" }, h("h1", { id: "view-title", tabindex: -1 }, "Watcher"), body);

  function killSwitch(w: WatcherStatus): HTMLElement | null {
    const active = w.agent.active;
    if (!ctx.can(active ? "DeactivateActor" : "ActivateActor")) return null;
    return h(
      "div",
      { class: "card" },
      h("h2", {}, "Kill switch"),
      h("p", {}, active ? "The watcher's agent is active: ticks may record Stall decisions." : "The watcher's agent is deactivated: ticks record nothing."),
      h(
        "button",
        {
          type: "button",
          id: active ? "watcher-deactivate" : "watcher-activate",
          class: active ? "danger" : "primary",
          onclick: () =>
            void ctx.act(
              active
                ? { title: "Deactivate the watcher", message: "Stops the watcher from recording decisions until it is activated again.", confirmLabel: "Deactivate", danger: true }
                : { title: "Activate the watcher", message: "Lets the watcher record Stall decisions again.", confirmLabel: "Activate" },
              () => ctx.api("POST", `/v1/actors/${w.agent.actor_id}/${active ? "deactivate" : "activate"}`),
            ),
        },
        active ? "Deactivate the watcher" : "Activate the watcher",
      ),
    );
  }

  return {
    element,
    intervalMs: 10000,
    async refresh() {
      const w = await ctx.api<WatcherStatus>("GET", "/v1/watcher");
      const tick = w.last_tick;
      if (tick && seen[0]?.started_at !== tick.started_at) seen.unshift(tick);
      seen.splice(TICKS_KEPT);
      patch(body, JSON.stringify([w, seen.length]), () => [
        w.enabled
          ? h("span")
          : h(
              "div",
              { class: "card hint", id: "watcher-off-hint" },
              h("h2", {}, "The watcher is off"),
              servedLocally()
                ? h("p", {}, "It runs on the Cron Trigger only when WATCHER_ENABLED is \"true\". To turn it on locally, start the service with ", h("code", {}, "npm start -- --var WATCHER_ENABLED:true"), ", then fire a tick by hand with ", h("code", {}, `curl "${location.origin}/__scheduled?cron=*+*+*+*+*"`), " (wrangler dev runs no schedule on its own).")
                : h("p", {}, "It runs on the Cron Trigger only when WATCHER_ENABLED is \"true\": set it in wrangler.toml's [vars] and deploy again."),
            ),
        h(
          "div",
          { class: "card" },
          h("h2", {}, "Configuration"),
          h(
            "dl",
            { class: "facts" },
            fact("Enabled", h("span", { id: "watcher-enabled" }, yesNo(w.enabled))),
            fact("Stall window, Running", hours(w.stale_after_seconds)),
            fact("Stall window, operator hold", hours(w.held_stale_after_seconds)),
            fact("Agent", h("span", { class: "mono" }, w.agent.actor_id)),
            fact("Agent active", h("span", { id: "watcher-agent-active" }, yesNo(w.agent.active))),
            fact("Agent authorized", yesNo(w.agent.authorized)),
            fact("Denied since", time(w.denied_since)),
          ),
        ),
        h(
          "div",
          { class: "card" },
          h("h2", {}, "Last tick"),
          tick
            ? h(
                "dl",
                { class: "facts" },
                fact("Started", time(tick.started_at)),
                fact("Outcome", h("span", { id: "watcher-outcome" }, tick.outcome)),
                fact("Duration", `${tick.duration_ms} ms`),
                fact("Candidates", String(tick.candidates)),
                fact("Flagged", String(tick.flagged)),
                fact("Pages", String(tick.pages)),
              )
            : h("p", { class: "muted" }, "No tick has run yet."),
          seen.length > 1
            ? h(
                "table",
                { id: "watcher-ticks" },
                h("caption", {}, "Ticks seen while this page was open, newest first"),
                h("thead", {}, h("tr", {}, ...["Started", "Outcome", "Duration", "Candidates", "Flagged"].map((l) => h("th", { scope: "col" }, l)))),
                h(
                  "tbody",
                  {},
                  ...seen.map((t) =>
                    h(
                      "tr",
                      {},
                      h("td", { "data-label": "Started" }, time(t.started_at)),
                      h("td", { "data-label": "Outcome" }, t.outcome),
                      h("td", { "data-label": "Duration" }, `${t.duration_ms} ms`),
                      h("td", { "data-label": "Candidates" }, String(t.candidates)),
                      h("td", { "data-label": "Flagged" }, String(t.flagged)),
                    ),
                  ),
                ),
              )
            : h("span"),
        ),
        killSwitch(w) ?? h("span"),
      ]);
    },
  };
}

// The stall watcher: its configuration, its agent, the last tick, and for an
// admin the kill switch (deactivating the watcher's agent).
import { h, time } from "./dom";
import type { WatcherStatus } from "./types";
import { patch, type View, type ViewContext } from "./view";

function fact(term: string, value: Node | string): HTMLElement {
  return h("div", {}, h("dt", {}, term), h("dd", {}, value));
}

const yesNo = (value: boolean) => (value ? "yes" : "no");

export function watcherView(ctx: ViewContext): View {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
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
      patch(body, JSON.stringify(w), () => [
        h(
          "div",
          { class: "card" },
          h("h2", {}, "Configuration"),
          h(
            "dl",
            { class: "facts" },
            fact("Enabled", h("span", { id: "watcher-enabled" }, yesNo(w.enabled))),
            fact("Stall window, Running", `${w.stale_after_seconds} s`),
            fact("Stall window, operator hold", `${w.held_stale_after_seconds} s`),
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
        ),
        killSwitch(w) ?? h("span"),
      ]);
    },
  };
}

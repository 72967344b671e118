// The fleet: procedures from the projection with filters and keyset paging.
// The list rows carry no step counts, so each visible row's own state is read;
// to keep that cheap, a row is read again only when its version moved, or
// while it is Running (activity changes progress without a new version).
import { query } from "./api";
import { h, progressBar, replace, shortId, statusBadge, time } from "./dom";
import { isStallCurrent, newestStalls } from "./progress";
import { STATUSES, type Decision, type Page, type Procedure, type ProcedureSummary } from "./types";
import { patch, type View, type ViewContext } from "./view";

const PAGE_SIZE = 25;

export interface FleetFilter {
  status: string;
  kind: string;
  asset: string;
}

export function fleetView(ctx: ViewContext, filter: FleetFilter, onFilter: (filter: FleetFilter) => void): View {
  const states = new Map<string, Procedure>();
  const cursors: Array<string | null> = [null];
  const rows = h("div", { class: "table-wrap" });
  const pager = h("nav", { class: "pager", "aria-label": "Fleet pages" });

  const statusSelect = h(
    "select",
    { id: "filter-status", name: "status" },
    h("option", { value: "" }, "Any status"),
    ...STATUSES.map((s) => h("option", { value: s, selected: s === filter.status }, s)),
  );
  const kindInput = h("input", { id: "filter-kind", name: "kind", value: filter.kind, autocomplete: "off", placeholder: "e.g. thermal" });
  const assetInput = h("input", { id: "filter-asset", name: "asset", value: filter.asset, autocomplete: "off", placeholder: "e.g. oven-1" });
  const form = h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": "Filter procedures",
      onsubmit: (event: Event) => {
        event.preventDefault();
        onFilter({ status: statusSelect.value, kind: kindInput.value.trim(), asset: assetInput.value.trim() });
      },
    },
    h("div", { class: "field" }, h("label", { for: "filter-status" }, "Status"), statusSelect),
    h("div", { class: "field" }, h("label", { for: "filter-kind" }, "Kind"), kindInput),
    h("div", { class: "field" }, h("label", { for: "filter-asset" }, "Asset"), assetInput),
    h("button", { type: "submit", class: "primary" }, "Apply filters"),
  );

  const element = h("section", { "aria-labelledby": "view-title" }, h("h1", { id: "view-title", tabindex: -1 }, "Fleet"), form, rows, pager);

  async function readStates(items: ProcedureSummary[]) {
    await Promise.all(
      items.map(async (row) => {
        const known = states.get(row.procedure_id);
        if (known && known.version === row.version && known.status !== "Running") return;
        try {
          states.set(row.procedure_id, await ctx.api<Procedure>("GET", `/v1/procedures/${row.procedure_id}`));
        } catch {
          // The row still shows what the list knows; the next refresh tries again.
        }
      }),
    );
  }

  function renderRows(items: ProcedureSummary[], stalls: Map<string, Decision>) {
    const signature = JSON.stringify([items, [...states.values()].map((s) => [s.procedure_id, s.version, s.completed_count]), [...stalls.keys()]]);
    patch(rows, signature, () => {
      if (items.length === 0) return [h("p", { class: "empty" }, "No procedures match these filters.")];
      return [
        h(
          "table",
          { class: "fleet" },
          h("caption", { class: "visually-hidden" }, "Procedures"),
          h(
            "thead",
            {},
            h("tr", {}, ...["Procedure", "Kind", "Assets", "Status", "Progress", "Attention", "Last change"].map((label) => h("th", { scope: "col" }, label))),
          ),
          h(
            "tbody",
            {},
            ...items.map((row) => {
              const state = states.get(row.procedure_id);
              const stall = stalls.get(row.procedure_id);
              const stalled = state ? isStallCurrent(state, stall) : false;
              return h(
                "tr",
                { "data-procedure-id": row.procedure_id },
                h(
                  "td",
                  { "data-label": "Procedure" },
                  h("a", { href: `#/procedures/${row.procedure_id}`, id: `open-${row.procedure_id}` }, row.name),
                  h("div", { class: "muted mono" }, shortId(row.procedure_id)),
                ),
                h("td", { "data-label": "Kind" }, row.kind),
                h("td", { "data-label": "Assets" }, row.target_asset_ids.join(", ") || "—"),
                h("td", { "data-label": "Status" }, statusBadge(row.status), row.hold_causes.length ? h("div", { class: "muted" }, row.hold_causes.join(", ")) : null),
                h("td", { "data-label": "Progress" }, state ? progressBar(state.completed_count, state.step_count) : h("span", { class: "muted" }, "…")),
                h("td", { "data-label": "Attention" }, stalled && stall ? h("span", { class: "badge stall", title: stall.reasoning }, "Stalled") : null),
                h("td", { "data-label": "Last change" }, time(row.last_status_changed_at ?? row.registered_at)),
              );
            }),
          ),
        ),
      ];
    });
  }

  function renderPager(nextCursor: string | null) {
    const page = cursors.length;
    patch(pager, JSON.stringify([page, nextCursor]), () => [
      h("button", { type: "button", id: "page-previous", class: "secondary", disabled: page === 1, onclick: () => void turn(-1, null) }, "Previous page"),
      h("span", { class: "muted" }, `Page ${page}`),
      h("button", { type: "button", id: "page-next", class: "secondary", disabled: nextCursor === null, onclick: () => void turn(1, nextCursor) }, "Next page"),
    ]);
  }

  async function turn(direction: 1 | -1, nextCursor: string | null) {
    if (direction === 1) cursors.push(nextCursor);
    else if (cursors.length > 1) cursors.pop();
    await view.refresh();
  }

  const view: View = {
    element,
    intervalMs: 5000,
    async refresh() {
      const cursor = cursors[cursors.length - 1] ?? null;
      const path = `/v1/procedures${query({ status: filter.status, kind: filter.kind, target_asset_id: filter.asset, cursor, limit: PAGE_SIZE })}`;
      const [page, decisions] = await Promise.all([
        ctx.api<Page<ProcedureSummary>>("GET", path),
        ctx.api<Page<Decision>>("GET", "/v1/decisions?choice=Stall&limit=100"),
      ]);
      await readStates(page.items);
      renderRows(page.items, newestStalls(decisions.items));
      renderPager(page.next_cursor);
    },
  };
  replace(rows, h("p", { class: "muted" }, "Loading…"));
  return view;
}

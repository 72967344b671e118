// The fleet: procedures from the projection, what needs attention first, with
// a search that narrows as one types, filters and keyset paging. One list
// request per refresh: each row carries its status, stall flag and step
// counts, so a fleet of 500 Running procedures costs what a fleet of 5 does.
import { query } from "./api";
import { archivedBadge, h, progressBar, replace, shortId, statusBadge, time } from "./dom";
import { STATUSES, type Page, type ProcedureListRow } from "./types";
import { patch, type View, type ViewContext } from "./view";

const PAGE_SIZE = 25;
/** How long typing pauses before the list follows it. */
const TYPING_PAUSE_MS = 250;

export const ORDERS = [
  ["attention", "Attention first"],
  ["newest", "Newest first"],
  ["oldest", "Oldest first"],
] as const;
export type FleetOrder = (typeof ORDERS)[number][0];

export interface FleetFilter {
  q: string;
  status: string;
  kind: string;
  asset: string;
  order: FleetOrder;
}

/** The filter a fleet URL's query names; attention order unless it says otherwise. */
export function fleetFilter(params: URLSearchParams): FleetFilter {
  const order = ORDERS.find(([value]) => value === params.get("order"))?.[0] ?? "attention";
  return { q: params.get("q") ?? "", status: params.get("status") ?? "", kind: params.get("kind") ?? "", asset: params.get("asset") ?? "", order };
}

/** The fleet URL for a filter, leaving out what is at its default. */
export function fleetHash(filter: FleetFilter): string {
  const entries = Object.entries(filter).filter(([key, value]) => value !== "" && !(key === "order" && value === "attention"));
  const search = new URLSearchParams(entries).toString();
  return search ? `#/?${search}` : "#/";
}

export function fleetView(ctx: ViewContext, initial: FleetFilter, extra: Node[] = []): View {
  let filter = initial;
  const cursors: Array<string | null> = [null];
  const rows = h("div", { class: "table-wrap", id: "fleet-rows" });
  const pager = h("nav", { class: "pager", "aria-label": "Fleet pages" });

  const searchInput = h("input", {
    id: "filter-q",
    name: "q",
    type: "search",
    value: filter.q,
    autocomplete: "off",
    placeholder: "Name or kind, e.g. bake oven",
  });
  const statusSelect = h(
    "select",
    { id: "filter-status", name: "status" },
    h("option", { value: "" }, "Any status"),
    ...STATUSES.map((s) => h("option", { value: s, selected: s === filter.status }, s)),
  );
  const orderSelect = h("select", { id: "filter-order", name: "order" }, ...ORDERS.map(([value, label]) => h("option", { value, selected: value === filter.order }, label)));
  const kindInput = h("input", { id: "filter-kind", name: "kind", value: filter.kind, autocomplete: "off", placeholder: "e.g. thermal" });
  const assetInput = h("input", { id: "filter-asset", name: "asset", value: filter.asset, autocomplete: "off", placeholder: "e.g. oven-1" });

  let typing: ReturnType<typeof setTimeout> | undefined;
  /** Takes the form's values: the list follows at once, and the address keeps them (without a new history entry). */
  function apply() {
    clearTimeout(typing);
    const next: FleetFilter = {
      q: searchInput.value.trim(),
      status: statusSelect.value,
      kind: kindInput.value.trim(),
      asset: assetInput.value.trim(),
      order: orderSelect.value as FleetOrder,
    };
    if (JSON.stringify(next) === JSON.stringify(filter)) return;
    filter = next;
    cursors.splice(0, cursors.length, null);
    history.replaceState(null, "", fleetHash(filter));
    void view.refresh().catch(() => undefined);
  }
  const soon = () => {
    clearTimeout(typing);
    typing = setTimeout(apply, TYPING_PAUSE_MS);
  };
  for (const input of [searchInput, kindInput, assetInput]) input.addEventListener("input", soon);
  for (const select of [statusSelect, orderSelect]) select.addEventListener("change", apply);

  const form = h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": "Find procedures",
      onsubmit: (event: Event) => {
        event.preventDefault();
        apply();
      },
    },
    h("div", { class: "field search" }, h("label", { for: "filter-q" }, "Search"), searchInput),
    h("div", { class: "field" }, h("label", { for: "filter-status" }, "Status"), statusSelect),
    h("div", { class: "field" }, h("label", { for: "filter-kind" }, "Kind"), kindInput),
    h("div", { class: "field" }, h("label", { for: "filter-asset" }, "Asset"), assetInput),
    h("div", { class: "field" }, h("label", { for: "filter-order" }, "Order"), orderSelect),
  );

  const element = h(
    "section",
    { "aria-labelledby": "view-title" },
    h("div", { class: "view-head" }, h("h1", { id: "view-title", tabindex: -1 }, "Fleet"), ...extra),
    form,
    rows,
    pager,
  );

  /** What an empty list says: a fleet with nothing in it yet is not a search that found nothing. */
  function emptyNote(): HTMLElement {
    const filtered = filter.status !== "" || filter.kind !== "" || filter.asset !== "";
    if (filter.q) return h("p", { class: "empty" }, `No procedure's name or kind matches "${filter.q}"${filtered ? " with these filters" : ""}.`);
    if (filtered) return h("p", { class: "empty" }, "No procedures match these filters.");
    return h(
      "p",
      { class: "empty", id: "fleet-empty" },
      "No procedures yet. ",
      ctx.can("RegisterProcedure")
        ? h("a", { href: "#/start" }, "Start a procedure")
        : "An operator starts one from the console's Start page, or a client with POST /v1/procedures",
      ctx.can("RegisterProcedure") ? ": register it, give it its steps, and it shows here." : ".",
    );
  }

  function renderRows(items: ProcedureListRow[]) {
    patch(rows, items.length === 0 ? `empty:${fleetHash(filter)}` : JSON.stringify(items), () => {
      if (items.length === 0) return [emptyNote()];
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
            ...items.map((row) =>
              h(
                "tr",
                { "data-procedure-id": row.procedure_id, "data-status": row.status, "data-stalled": String(row.stalled), "data-archived": String(row.archived_at !== null) },
                h(
                  "td",
                  { "data-label": "Procedure" },
                  h("a", { href: `#/procedures/${row.procedure_id}`, id: `open-${row.procedure_id}` }, row.name),
                  h("div", { class: "muted mono" }, shortId(row.procedure_id)),
                ),
                h("td", { "data-label": "Kind" }, row.kind),
                h("td", { "data-label": "Assets" }, row.target_asset_ids.join(", ") || "—"),
                h("td", { "data-label": "Status" }, statusBadge(row.status), row.archived_at ? archivedBadge(row.archived_at) : null, row.hold_causes.length ? h("div", { class: "muted" }, row.hold_causes.join(", ")) : null),
                h("td", { "data-label": "Progress" }, progressBar(row.completed_count, row.step_count)),
                h(
                  "td",
                  { "data-label": "Attention" },
                  row.stalled ? h("span", { class: "badge stall", title: "The watcher recorded a Stall decision and nothing has progressed since" }, "Stalled") : null,
                ),
                h("td", { "data-label": "Last change" }, time(row.last_status_changed_at ?? row.registered_at)),
              ),
            ),
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
      const asked = filter;
      const cursor = cursors[cursors.length - 1] ?? null;
      const path = `/v1/procedures${query({ q: asked.q, status: asked.status, kind: asked.kind, target_asset_id: asked.asset, order: asked.order, cursor, limit: PAGE_SIZE })}`;
      const page = await ctx.api<Page<ProcedureListRow>>("GET", path);
      // An answer to a search since retyped is dropped: the newer one follows.
      if (asked !== filter) return;
      renderRows(page.items);
      renderPager(page.next_cursor);
    },
    close() {
      clearTimeout(typing);
    },
  };
  replace(rows, h("p", { class: "muted" }, "Loading…"));
  return view;
}

// The watcher's decisions (Stall, StepOverdue), newest first, each linking to its procedure.
import { query } from "./api";
import { h, shortId, time } from "./dom";
import type { Decision, Page } from "./types";
import { patch, type View, type ViewContext } from "./view";

const PAGE_SIZE = 25;

export function decisionsView(ctx: ViewContext): View {
  const cursors: Array<string | null> = [null];
  const list = h("div", { class: "table-wrap" }, h("p", { class: "muted" }, "Loading…"));
  const pager = h("nav", { class: "pager", "aria-label": "Decision pages" });
  const element = h(
    "section",
    { "aria-labelledby": "view-title" },
    h("h1", { id: "view-title", tabindex: -1 }, "Watcher decisions"),
    h("p", { class: "muted" }, "One Stall per stall episode and one StepOverdue per step attempt past its deadline, recorded by the watcher; the newest first."),
    list,
    pager,
  );

  const view: View = {
    element,
    intervalMs: 10000,
    async refresh() {
      const cursor = cursors[cursors.length - 1] ?? null;
      const page = await ctx.api<Page<Decision>>("GET", `/v1/decisions${query({ context: "ProcedureProgress", cursor, limit: PAGE_SIZE })}`);
      patch(list, JSON.stringify(page.items.map((d) => d.id)), () =>
        page.items.length === 0
          ? [h("p", { class: "empty" }, "No decisions.")]
          : [
              h(
                "table",
                {},
                h("thead", {}, h("tr", {}, ...["Recorded", "Decision", "Procedure", "Reasoning"].map((l) => h("th", { scope: "col" }, l)))),
                h(
                  "tbody",
                  {},
                  ...page.items.map((d) =>
                    h(
                      "tr",
                      { "data-decision-id": d.id, "data-choice": d.choice },
                      h("td", { "data-label": "Recorded" }, time(d.recorded_at)),
                      h("td", { "data-label": "Decision" }, h("span", { class: `badge choice-${d.choice}` }, d.choice)),
                      h("td", { "data-label": "Procedure" }, h("a", { href: `#/procedures/${d.subject_id}`, class: "mono" }, shortId(d.subject_id))),
                      h("td", { "data-label": "Reasoning" }, d.reasoning),
                    ),
                  ),
                ),
              ),
            ],
      );
      const pageNumber = cursors.length;
      patch(pager, JSON.stringify([pageNumber, page.next_cursor]), () => [
        h("button", { type: "button", id: "page-previous", class: "secondary", disabled: pageNumber === 1, onclick: () => (cursors.pop(), void view.refresh()) }, "Newer"),
        h("span", { class: "muted" }, `Page ${pageNumber}`),
        h("button", { type: "button", id: "page-next", class: "secondary", disabled: page.next_cursor === null, onclick: () => (cursors.push(page.next_cursor), void view.refresh()) }, "Older"),
      ]);
    },
  };
  return view;
}

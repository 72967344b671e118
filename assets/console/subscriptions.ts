// Webhook subscriptions: the list, a form to subscribe (its signing secret is
// shown once, right after), a test ping, the delivery attempts of the one
// selected, and deletion. Each control appears only when the role may use it.
import { card, h, time } from "./dom";
import { clearProblem, showProblem } from "./notice";
import { EVENT_TYPES, type Delivery, type Page, type Subscription } from "./types";
import { patch, type View, type ViewContext } from "./view";
import { LOCAL_DEVELOPMENT_HOSTS } from "../../src/notify/webhook-url";

function field(id: string, label: string, input: HTMLElement): HTMLElement {
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

/** Copies the secret to the clipboard and says so; where the clipboard is not allowed, selects it to copy by hand. */
function copyButton(secret: string): HTMLElement {
  const said = h("span", { class: "muted", role: "status", id: "subscription-secret-copied" });
  const button = h(
    "button",
    {
      type: "button",
      class: "secondary",
      id: "subscription-secret-copy",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(secret);
          said.textContent = " Copied.";
        } catch {
          const code = document.getElementById("subscription-secret");
          if (code) getSelection()?.selectAllChildren(code);
          said.textContent = " Selected: copy it with Ctrl+C (⌘C).";
        }
      },
    },
    "Copy the secret",
  );
  return h("p", {}, button, said);
}

export function subscriptionsView(ctx: ViewContext): View {
  const alert = h("div", { class: "alert-region", role: "alert", id: "subscriptions-problem" });
  const secret = h("div", { role: "status", id: "subscription-secret-region" });
  const list = h("div", { class: "table-wrap" }, h("p", { class: "muted" }, "Loading…"));
  const deliveries = h("div", { class: "table-wrap" });
  const deliveriesCard = card("Deliveries", "deliveries-title", deliveries);
  deliveriesCard.hidden = true;
  let selected: Subscription | null = null;
  let subscriptions: Subscription[] = [];

  /** Runs a request from this page; a refusal shows its title and detail here. True when accepted. */
  async function attempt(run: () => Promise<unknown>): Promise<boolean> {
    clearProblem(alert);
    try {
      await run();
      return true;
    } catch (error) {
      showProblem(alert, error);
      return false;
    }
  }

  function createForm(): HTMLElement {
    const url = h("input", { id: "subscription-url", name: "url", type: "url", required: true, placeholder: "https://hooks.example.org/lab", autocomplete: "off" });
    // `ping` is what "Send test ping" sends to any subscription, not something to subscribe to.
    const boxes = EVENT_TYPES.filter((type) => type !== "ping").map((type) => h("input", { type: "checkbox", name: "event_types", value: type, id: `event-type-${type}` }));
    const urlError = h("p", { class: "field-error", id: "subscription-url-error" });
    const typesError = h("p", { class: "field-error", id: "subscription-types-error" });
    /** The form's own checks, before anything is sent; the service checks again. */
    const check = (): boolean => {
      urlError.textContent = "";
      typesError.textContent = "";
      url.removeAttribute("aria-invalid");
      let parsed: URL | null = null;
      try {
        parsed = new URL(url.value.trim());
      } catch {
        parsed = null;
      }
      const loopback = parsed !== null && parsed.protocol === "http:" && LOCAL_DEVELOPMENT_HOSTS.has(parsed.hostname);
      if (!parsed || !(parsed.protocol === "https:" || loopback)) {
        urlError.textContent = parsed
          ? "The service posts only to https:// URLs (or http:// to localhost, 127.0.0.1 or [::1] for a receiver on this machine)."
          : "Enter the receiver's full URL, such as https://hooks.example.org/lab.";
        url.setAttribute("aria-invalid", "true");
      }
      if (!boxes.some((box) => box.checked)) typesError.textContent = "Choose at least one event type.";
      const ok = !urlError.textContent && !typesError.textContent;
      if (!ok) (urlError.textContent ? url : boxes[0]!).focus();
      return ok;
    };
    const kind = h("input", { id: "subscription-kind", name: "kind", autocomplete: "off" });
    const asset = h("input", { id: "subscription-asset", name: "target_asset_id", autocomplete: "off" });
    const format = h("select", { id: "subscription-format", name: "format" }, h("option", { value: "standard" }, "Standard Webhooks (JSON)"), h("option", { value: "slack" }, "Slack message"));
    const description = h("input", { id: "subscription-description", name: "description", maxlength: 500, autocomplete: "off" });
    const submit = h("button", { type: "submit", class: "primary" }, "Create subscription");
    const form = h(
      "form",
      {
        class: "subscription-form",
        novalidate: true,
        onsubmit: async (event: Event) => {
          event.preventDefault();
          if (!check()) return;
          const filter = Object.fromEntries(Object.entries({ kind: kind.value.trim(), target_asset_id: asset.value.trim() }).filter(([, v]) => v !== ""));
          const body = {
            url: url.value.trim(),
            event_types: boxes.filter((box) => box.checked).map((box) => box.value),
            format: format.value,
            ...(Object.keys(filter).length ? { filter } : {}),
            ...(description.value.trim() ? { description: description.value.trim() } : {}),
          };
          submit.disabled = true;
          let created: (Subscription & { secret: string }) | undefined;
          const ok = await attempt(async () => (created = await ctx.api("POST", "/v1/subscriptions", body)));
          submit.disabled = false;
          if (!ok || !created) return;
          form.reset();
          secret.replaceChildren(
            h(
              "div",
              { class: "card secret" },
              h("h2", {}, "Signing secret"),
              h("p", {}, "Copy it now: it is shown only this once and cannot be read again. Receivers verify each delivery's signature with it."),
              h("code", { class: "mono", id: "subscription-secret" }, created.secret),
              copyButton(created.secret),
              h("p", { class: "muted" }, `For ${created.url}`),
              h("button", { type: "button", class: "ghost", onclick: () => secret.replaceChildren() }, "I have copied it"),
            ),
          );
          await reload();
        },
      },
      field("subscription-url", "Receiver URL", url),
      urlError,
      h("fieldset", { class: "checks" }, h("legend", {}, "Event types"), ...boxes.map((box) => h("label", { for: box.id }, box, box.value))),
      typesError,
      field("subscription-kind", "Only procedures of kind (optional)", kind),
      field("subscription-asset", "Only procedures on asset (optional)", asset),
      field("subscription-format", "Format", format),
      field("subscription-description", "Description (optional)", description),
      submit,
    );
    return card("New subscription", "new-subscription-title", form);
  }

  function rowActions(s: Subscription): HTMLElement {
    const id = s.subscription_id;
    return h(
      "div",
      { class: "actions", role: "group", "aria-label": `Actions for ${s.url}` },
      ctx.can("TestSubscription")
        ? h("button", { type: "button", id: `test-${id}`, onclick: () => void attempt(() => ctx.api("POST", `/v1/subscriptions/${id}/test`)).then((ok) => { if (ok) void select(s); }) }, "Send test ping")
        : null,
      ctx.can("ListSubscriptionDeliveries") ? h("button", { type: "button", id: `deliveries-${id}`, onclick: () => void select(s) }, "Deliveries") : null,
      ctx.can("DeleteSubscription")
        ? h(
            "button",
            {
              type: "button",
              class: "danger",
              id: `delete-${id}`,
              onclick: () =>
                void ctx.act({ title: "Delete the subscription", message: `Nothing more is sent to ${s.url}.`, confirmLabel: "Delete", danger: true }, async () => {
                  await ctx.api("DELETE", `/v1/subscriptions/${id}`);
                  if (selected?.subscription_id === id) selected = null;
                }),
            },
            "Delete",
          )
        : null,
    );
  }

  function renderList() {
    patch(list, JSON.stringify(subscriptions), () =>
      subscriptions.length === 0
        ? [h("p", { class: "muted" }, "No subscriptions.")]
        : [
            h(
              "table",
              {},
              h("thead", {}, h("tr", {}, ...["Receiver", "Event types", "Filter", "Format", "Created", "Actions"].map((l) => h("th", { scope: "col" }, l)))),
              h(
                "tbody",
                {},
                ...subscriptions.map((s) =>
                  h(
                    "tr",
                    { "data-subscription-id": s.subscription_id },
                    h("td", { "data-label": "Receiver" }, h("span", { class: "mono" }, s.url), s.description ? h("div", { class: "muted" }, s.description) : null),
                    h("td", { "data-label": "Event types" }, s.event_types.join(", ")),
                    h("td", { "data-label": "Filter" }, [s.filter.kind && `kind ${s.filter.kind}`, s.filter.target_asset_id && `asset ${s.filter.target_asset_id}`].filter(Boolean).join(" · ") || "—"),
                    h("td", { "data-label": "Format" }, s.format),
                    h("td", { "data-label": "Created" }, time(s.created_at)),
                    h("td", { "data-label": "Actions" }, rowActions(s)),
                  ),
                ),
              ),
            ),
          ],
    );
  }

  async function refreshDeliveries() {
    deliveriesCard.hidden = selected === null;
    if (!selected) return;
    const page = await ctx.api<Page<Delivery>>("GET", `/v1/subscriptions/${selected.subscription_id}/deliveries?limit=50`);
    const heading = `Delivery attempts to ${selected.url}, newest first`;
    patch(deliveries, JSON.stringify([heading, page.items]), () => [
      h("p", { class: "muted" }, heading),
      page.items.length === 0
        ? h("p", { class: "muted" }, "No attempts yet.")
        : h(
            "table",
            {},
            h("thead", {}, h("tr", {}, ...["Attempted", "Event type", "Attempt", "Answer", "Outcome"].map((l) => h("th", { scope: "col" }, l)))),
            h(
              "tbody",
              {},
              ...page.items.map((d) =>
                h(
                  "tr",
                  { "data-outcome": d.outcome },
                  h("td", { "data-label": "Attempted" }, time(d.attempted_at)),
                  h("td", { "data-label": "Event type" }, d.event_type),
                  h("td", { "data-label": "Attempt" }, String(d.attempt)),
                  h("td", { "data-label": "Answer" }, d.status_code === null ? "no answer" : String(d.status_code)),
                  h("td", { "data-label": "Outcome" }, h("span", { class: `badge outcome-${d.outcome}` }, d.outcome)),
                ),
              ),
            ),
          ),
    ]);
  }

  async function select(s: Subscription) {
    selected = s;
    await attempt(refreshDeliveries);
  }

  async function reload() {
    const page = await ctx.api<Page<Subscription>>("GET", "/v1/subscriptions?limit=100");
    subscriptions = page.items;
    if (selected && !subscriptions.some((s) => s.subscription_id === selected!.subscription_id)) selected = null;
    renderList();
    await refreshDeliveries();
  }

  const element = h(
    "section",
    { "aria-labelledby": "view-title" },
    h("h1", { id: "view-title", tabindex: -1 }, "Subscriptions"),
    h("p", { class: "muted" }, "Webhooks the service posts to when a procedure stalls, is held, has a step fail or ends."),
    alert,
    secret,
    ctx.can("CreateSubscription") ? createForm() : null,
    card("Subscriptions", "subscriptions-title", list),
    deliveriesCard,
  );

  return { element, intervalMs: 3000, refresh: reload };
}

// The console's entry: sign in with a token, then route between the screens
// (#/ fleet, #/start, #/procedures/{id}, #/decisions, #/watcher, #/subscriptions, #/health), each refreshing itself.
import { ApiProblem } from "./api";
import { decisionsView } from "./decisions";
import { confirmAction } from "./dialog";
import { h, replace, servedLocally, time } from "./dom";
import { healthView } from "./health";
import { fleetFilter, fleetView } from "./fleet";
import { clearProblem, problemOf, showProblem } from "./notice";
import { procedureView } from "./procedure";
import { forgetToken, signIn, storedToken, type Session } from "./session";
import type { View, ViewContext } from "./view";
import { startView } from "./start";
import { subscriptionsView } from "./subscriptions";
import { watcherView } from "./watcher";

const app = document.getElementById("app")!;

function signInScreen(problem?: unknown) {
  const token = h("input", { id: "token", name: "token", type: "password", required: true, autocomplete: "off", spellcheck: "false" });
  const alert = h("div", { class: "alert-region", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    {
      class: "card sign-in",
      "aria-labelledby": "sign-in-title",
      onsubmit: async (event: Event) => {
        event.preventDefault();
        submit.disabled = true;
        try {
          start(await signIn(token.value.trim()));
        } catch (error) {
          showProblem(alert, error);
          submit.disabled = false;
          token.focus();
        }
      },
    },
    h("h1", { id: "sign-in-title" }, "Sign in"),
    h("p", { class: "muted" }, "Paste a bearer token. It is kept in this browser tab only and sent to this service alone."),
    servedLocally()
      ? h(
          "p",
          { class: "muted", id: "local-token-hint" },
          "Running on this machine? ",
          h("code", {}, "npm start"),
          " prints a local admin token when it starts (the ",
          h("code", {}, "ADMIN_TOKEN"),
          " in ",
          h("code", {}, ".dev.vars"),
          ", ",
          h("code", {}, "local-admin-token"),
          " unless you chose another).",
        )
      : null,
    h("label", { for: "token" }, "Bearer token"),
    token,
    submit,
    alert,
  );
  replace(app, h("header", { class: "topbar" }, h("span", { class: "brand" }, "procedure-edge")), h("main", { id: "main" }, form));
  if (problem) showProblem(alert, problem);
  token.focus();
}

function start(session: Session) {
  const main = h("main", { id: "main" });
  const alert = h("div", { class: "alert-region", role: "alert", id: "problem" });
  // Not a live region: announcing every refresh would drown a screen reader.
  const status = h("p", { class: "refresh-status muted", id: "refresh-status" });
  const outlet = h("div");
  const links: Array<[string, string, boolean]> = [
    ["#/", "Fleet", session.can("ListProcedures")],
    ["#/start", "Start", session.can("RegisterProcedure")],
    ["#/decisions", "Decisions", session.can("ListDecisions")],
    ["#/watcher", "Watcher", session.can("ReadWatcher")],
    ["#/subscriptions", "Subscriptions", session.can("ListSubscriptions")],
    ["#/health", "Health", session.can("ReadRefusals") && session.can("ListDeliveries") && session.can("ReadWatcher")],
  ];
  const nav = h("nav", { class: "nav", "aria-label": "Console" }, ...links.filter(([, , shown]) => shown).map(([href, label]) => h("a", { href }, label)));
  const signOut = h("button", { type: "button", class: "ghost", id: "sign-out", onclick: () => (forgetToken(), stop(), signInScreen()) }, "Sign out");
  const who = h("span", { class: "who", id: "who" }, h("strong", {}, session.me.name), " · ", session.me.roles.join(", "));
  replace(
    app,
    h("a", { class: "skip-link", href: "#main" }, "Skip to content"),
    h("header", { class: "topbar" }, h("span", { class: "brand" }, "procedure-edge"), nav, h("div", { class: "session" }, who, signOut)),
    main,
  );
  main.append(alert, outlet, status);

  let current: View | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const ctx: ViewContext = {
    api: session.api,
    me: session.me,
    can: session.can,
    async act(spec, run) {
      const input = await confirmAction(spec);
      if (input === null) return false;
      clearProblem(alert);
      try {
        await run(input);
      } catch (error) {
        showProblem(alert, error);
        return false;
      }
      await refreshNow();
      return true;
    },
    updated() {
      if (current) showUpdated();
    },
  };

  /** The foot of the page: when the screen was last brought up to date, in the reader's time zone as every time in the console is. */
  function showUpdated() {
    status.replaceChildren("Updated ", time(new Date().toISOString()));
  }

  async function refresh(view: View) {
    try {
      await view.refresh();
      if (view === current) showUpdated();
    } catch (error) {
      if (error instanceof ApiProblem && error.problem.status === 401) {
        forgetToken();
        stop();
        signInScreen(error);
        return;
      }
      const problem = problemOf(error);
      if (view === current) status.textContent = `Refresh failed: ${problem.title}: ${problem.detail}`;
    }
  }

  async function poll(view: View) {
    if (view !== current) return;
    if (!document.hidden && view.polls?.() !== false) await refresh(view);
    if (view === current) timer = setTimeout(() => void poll(view), view.intervalMs);
  }

  async function refreshNow() {
    if (current) await refresh(current);
  }

  function stop() {
    current?.close?.();
    current = null;
    clearTimeout(timer);
    window.removeEventListener("hashchange", route);
    document.removeEventListener("visibilitychange", onVisible);
  }

  function onVisible() {
    if (!document.hidden) void refreshNow();
  }

  function viewFor(hash: string): View {
    const [path = "/", search = ""] = hash.replace(/^#/, "").split("?");
    const procedure = /^\/procedures\/([0-9a-f-]{36})$/i.exec(path);
    if (procedure) return procedureView(ctx, procedure[1]!);
    if (path === "/decisions") return decisionsView(ctx);
    if (path === "/watcher") return watcherView(ctx);
    if (path === "/subscriptions") return subscriptionsView(ctx);
    if (path === "/health") return healthView(ctx);
    if (path === "/start" && ctx.can("RegisterProcedure")) return startView(ctx, new URLSearchParams(search).get("template"));
    const startLink = ctx.can("RegisterProcedure") ? [h("a", { class: "button primary", href: "#/start", id: "fleet-start" }, "Start a procedure")] : [];
    return fleetView(ctx, fleetFilter(new URLSearchParams(search)), startLink);
  }

  function route() {
    clearTimeout(timer);
    clearProblem(alert);
    status.textContent = "";
    const view = viewFor(location.hash || "#/");
    current?.close?.();
    current = view;
    outlet.replaceChildren(view.element);
    for (const link of nav.querySelectorAll("a")) {
      const active = link.getAttribute("href") === (location.hash.split("?")[0] || "#/");
      if (active) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    view.element.querySelector<HTMLElement>("#view-title")?.focus({ preventScroll: true });
    void poll(view);
  }

  window.addEventListener("hashchange", route);
  document.addEventListener("visibilitychange", onVisible);
  route();
}

const token = storedToken();
if (token) {
  signIn(token).then(start, (error) => {
    forgetToken();
    signInScreen(error);
  });
} else {
  signInScreen();
}

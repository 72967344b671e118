// A minimal element builder: the console has no framework, and every text goes
// in through textContent, never innerHTML.
import { LOCAL_DEVELOPMENT_HOSTS } from "../../src/notify/webhook-url";

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** Creates an element: `on*` attributes become listeners, `false`/null attributes are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, ...children);
  return element;
}

/** Sets an element's width in percent through its style object (allowed under a CSP without inline styles). */
function withWidth<E extends HTMLElement>(element: E, percent: number): E {
  element.style.width = `${percent}%`;
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  timeZoneName: "short",
});

/** A <time> element in the reader's locale and time zone (named), the instant in UTC in its title. */
/** Whether the console is served on this machine (by `npm start`): only there do local hints (the admin token, a tick by hand) mean anything. */
export function servedLocally(): boolean {
  return LOCAL_DEVELOPMENT_HOSTS.has(location.hostname);
}

export function time(iso: string | null): HTMLElement | string {
  if (!iso) return "—";
  const utc = `${iso.replace("T", " ").replace(/(\.\d+)?Z$/, "")} UTC`;
  return h("time", { datetime: iso, title: utc }, timeFormat.format(new Date(iso)));
}

/** A duration in words a reader takes in at a glance: "under 1 s", "45 s", "3 min 20 s", "2 h 5 min", "3 d 4 h". */
export function duration(ms: number): string {
  if (ms < 1000) return "under 1 s";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return m % 60 ? `${hours} h ${m % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

/** Between two instants, in words; empty when either is missing. */
export function between(fromIso: string | null | undefined, toIso: string | null | undefined): string {
  if (!fromIso || !toIso) return "";
  return duration(Date.parse(toIso) - Date.parse(fromIso));
}

/** A JSON value collapsed behind a summary line, so a long reading does not crowd the table. */
export function collapsed(summary: string, value: unknown): HTMLElement {
  return h("details", { class: "payload" }, h("summary", {}, summary), h("pre", { class: "mono" }, JSON.stringify(value, null, 2)));
}

export function shortId(id: string): string {
  return id.slice(-12);
}

/** The badge of an archived procedure, with when it was archived in its title. */
export function archivedBadge(archivedAt: string): HTMLElement {
  return h("span", { class: "badge archived", title: `Archived ${timeFormat.format(new Date(archivedAt))}` }, "Archived");
}

/** A status badge; the colour comes from the stylesheet, the word is always there. */
export function statusBadge(status: string): HTMLElement {
  return h("span", { class: `badge status-${status.toLowerCase()}` }, status);
}

/** A progress bar with its figures in words for assistive technology. */
export function progressBar(done: number, total: number | null): HTMLElement {
  if (total === null) return h("span", { class: "muted" }, "free-form");
  const percent = total === 0 ? 100 : Math.round((done / total) * 100);
  const label = `${done} of ${total} steps ok`;
  return h(
    "div",
    { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": total, "aria-valuenow": done, "aria-label": label, title: label },
    // A style property, not a style attribute: the page's Content-Security-Policy allows no inline styles.
    h("div", { class: "progress-track" }, withWidth(h("div", { class: "progress-fill" }), percent)),
    h("span", { class: "progress-text" }, `${done}/${total}`),
  );
}

/** A titled card section, labelled by its heading. */
export function card(title: string, id: string, ...content: Node[]): HTMLElement {
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...content);
}

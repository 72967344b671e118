// A minimal element builder: the console has no framework, and every text goes
// in through textContent, never innerHTML.

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

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** A <time> element in the reader's locale, the exact instant in its title. */
export function time(iso: string | null): HTMLElement | string {
  if (!iso) return "—";
  return h("time", { datetime: iso, title: iso }, timeFormat.format(new Date(iso)));
}

export function shortId(id: string): string {
  return id.slice(-12);
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

// Where problems surface: a refused action in the alert region (title, detail,
// the offending fields), a failed refresh in the quieter status line.
import { ApiProblem, type Problem } from "./api";
import { h, replace } from "./dom";

export function problemOf(error: unknown): Problem {
  if (error instanceof ApiProblem) return error.problem;
  return { title: "Something went wrong", status: 0, detail: error instanceof Error ? error.message : String(error) };
}

/** Shows a problem in the page's alert region until dismissed or replaced. */
export function showProblem(region: HTMLElement, error: unknown): void {
  const problem = problemOf(error);
  replace(
    region,
    h(
      "div",
      { class: "problem", "data-error-class": problem.error_class ?? "" },
      h(
        "div",
        { class: "problem-text" },
        h("strong", { class: "problem-title" }, problem.title),
        problem.error_class ? h("code", { class: "problem-class" }, problem.error_class) : null,
        h("p", { class: "problem-detail" }, problem.detail),
        problem.errors?.length ? h("ul", {}, ...problem.errors.map((e) => h("li", {}, h("code", {}, e.path), " ", e.message))) : null,
        problem.request_id ? h("p", { class: "problem-request muted" }, "Request id ", h("code", {}, problem.request_id)) : null,
      ),
      h("button", { type: "button", class: "ghost", "aria-label": "Dismiss the problem", onclick: () => clearProblem(region) }, "Dismiss"),
    ),
  );
}

export function clearProblem(region: HTMLElement): void {
  region.replaceChildren();
}

// The step editor's pure parts (no browser needed): an editor step to the
// wire form a conduct takes and back, and durations in words.
import { describe, expect, it } from "vitest";
import { duration } from "../../assets/console/dom";
import { fromRequestStep, newStep, plainFieldMessage, toRequestStep } from "../../assets/console/start";

describe("the step editor's wire form", () => {
  it("turns each kind's fields into the step a conduct takes, and a template's steps back", () => {
    const steps = [
      { kind: "setpoint", address: "oven.zone_a", value: 120, verify: true },
      { kind: "setpoint", address: "oven.zone_b", value: 80, verify: false, deadline_seconds: 30 },
      { kind: "action", name: "open_valve", params: { valve: "v3" } },
      { kind: "check", address: "oven.zone_a", criterion: { kind: "within_tolerance", expected: 120, tolerance: 2 } },
      { kind: "check", address: "door", criterion: { kind: "equals", expected: true } },
      { kind: "capture", address: "detector", capture_name: "frame" },
      { kind: "compute", command: ["fit", "--gauss"], input_uris: ["r2://frames/1"], parameters: { order: 2 }, capture_name: "fit" },
      { kind: "scan", address: "stage.x", start: 0, stop: 1, points: 3 },
      { kind: "scan", address: "stage.y", start: 0, stop: 1, points: 3, deadline_seconds: 5 },
      { kind: "repeat", times: 2, steps: [{ kind: "capture", address: "detector", capture_name: "frame" }] },
    ];
    for (const [i, step] of steps.entries()) expect(toRequestStep(fromRequestStep(step), `steps.${i}`)).toEqual(step);
  });

  it("leaves empty fields out and sends text where a number is due, so the service's answer names the field", () => {
    const step = newStep("setpoint");
    expect(toRequestStep(step, "steps.0")).toEqual({ kind: "setpoint", verify: true });
    step.values.value = "hot";
    expect(toRequestStep(step, "steps.0")).toMatchObject({ value: "hot" });
  });

  it("refuses a parameters field that is not JSON before anything is sent, naming its path", () => {
    const step = newStep("action");
    step.values.params = "{speed: 2";
    expect(() => toRequestStep(step, "steps.3")).toThrow(expect.objectContaining({ path: "steps.3.params" }));
  });
});

describe("the service's refusals in plain words", () => {
  it.each([
    ["Invalid input: expected string, received undefined", "Needs a value."],
    ["Invalid input: expected number, received undefined", "Needs a value."],
    ["Too small: expected string to have >=1 characters", "Needs a value."],
    ["Too small: expected array to have >=1 items", "Needs a value."],
    ["Invalid input: expected number, received string", "Enter a number."],
    ["Invalid input: expected int, received number", "Enter a whole number."],
    ["Too small: expected number to be >=2", "At least 2."],
    ["Too small: expected number to be >0", "More than 0."],
    ["Too big: expected number to be <=604800", "At most 604800."],
    ["Too big: expected string to have <=200 characters", "At most 200 characters."],
    ['Invalid option: expected one of "within_tolerance"|"equals"', 'Choose one of "within_tolerance", "equals".'],
    ["not JSON: write an object such as {} or {\"speed\": 2}", 'Not JSON: write an object such as {} or {"speed": 2}.'],
    ["a scan needs at least 2 points.", "A scan needs at least 2 points."],
  ])("%s reads %s", (message, words) => {
    expect(plainFieldMessage(message)).toBe(words);
  });
});

describe("durations in words", () => {
  it.each([
    [400, "under 1 s"],
    [45_000, "45 s"],
    [200_000, "3 min 20 s"],
    [7_500_000, "2 h 5 min"],
    [3 * 86_400_000 + 4 * 3_600_000, "3 d 4 h"],
  ])("%i ms reads %s", (ms, words) => {
    expect(duration(ms)).toBe(words);
  });
});

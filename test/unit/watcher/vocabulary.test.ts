import { describe, expect, it } from "vitest";
import {
  assertUniqueChoices,
  contextOfChoice,
  DECISION_CHOICES,
  DECISION_CONTEXTS,
  DECISION_VOCABULARY,
  isDecisionChoice,
  isDecisionContext,
} from "../../../src/decisions/vocabulary";

describe("decision vocabulary", () => {
  it("has ProcedureProgress owning Stall and StepOverdue", () => {
    expect(DECISION_VOCABULARY).toEqual({ ProcedureProgress: ["Stall", "StepOverdue"] });
    expect(DECISION_CONTEXTS).toEqual(["ProcedureProgress"]);
    expect(DECISION_CHOICES).toEqual(["Stall", "StepOverdue"]);
    expect(contextOfChoice("Stall")).toBe("ProcedureProgress");
    expect(contextOfChoice("StepOverdue")).toBe("ProcedureProgress");
  });

  it("keeps every choice token unique across contexts", () => {
    expect(new Set(DECISION_CHOICES).size).toBe(DECISION_CHOICES.length);
    expect(() => assertUniqueChoices(DECISION_VOCABULARY)).not.toThrow();
    for (const choice of DECISION_CHOICES) {
      const owners = DECISION_CONTEXTS.filter((c) =>
        (DECISION_VOCABULARY[c] as readonly string[]).includes(choice),
      );
      expect(owners).toEqual([contextOfChoice(choice)]);
    }
  });

  it("refuses a vocabulary where two contexts share a choice", () => {
    expect(() =>
      assertUniqueChoices({ ProcedureProgress: ["Stall"], AssetHealth: ["Ok", "Stall"] }),
    ).toThrow('Decision choice "Stall" is owned by both "ProcedureProgress" and "AssetHealth"');
  });

  it("refuses a choice repeated within one context", () => {
    expect(() => assertUniqueChoices({ ProcedureProgress: ["Stall", "Stall"] })).toThrow(
      'Decision choice "Stall" is owned by both "ProcedureProgress" and "ProcedureProgress"',
    );
  });

  it("recognises only known contexts and choices", () => {
    expect(isDecisionContext("ProcedureProgress")).toBe(true);
    expect(isDecisionContext("toString")).toBe(false);
    expect(isDecisionContext("Stall")).toBe(false);
    expect(isDecisionChoice("Stall")).toBe(true);
    expect(isDecisionChoice("stall")).toBe(false);
    expect(isDecisionChoice("ProcedureProgress")).toBe(false);
  });

  it("throws on an unvalidated string posing as a choice", () => {
    expect(() => contextOfChoice("Nope" as "Stall")).toThrow('Unknown decision choice "Nope"');
  });
});

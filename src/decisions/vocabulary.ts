// The closed vocabulary of decisions. A choice token names its context on its
// own (`Stall` can only mean ProcedureProgress), so readers filtering by choice
// never need the context too; that only holds while tokens stay unique.

/** Every decision context and the choices it owns; add contexts here only. */
export const DECISION_VOCABULARY = {
  ProcedureProgress: ["Stall", "StepOverdue"],
} as const;

export type DecisionContext = keyof typeof DECISION_VOCABULARY;
export type DecisionChoice = (typeof DECISION_VOCABULARY)[DecisionContext][number];

type Vocabulary = Readonly<Record<string, readonly string[]>>;

/** Throws when a choice token appears twice, in one context or across two. */
export function assertUniqueChoices(vocabulary: Vocabulary): void {
  const owner = new Map<string, string>();
  for (const [context, choices] of Object.entries(vocabulary)) {
    for (const choice of choices) {
      const previous = owner.get(choice);
      if (previous !== undefined) {
        throw new Error(
          `Decision choice "${choice}" is owned by both "${previous}" and "${context}"`,
        );
      }
      owner.set(choice, context);
    }
  }
}

// Checked at load so a duplicate added later fails every test, not a reader.
assertUniqueChoices(DECISION_VOCABULARY);

/** All contexts, in declaration order. */
export const DECISION_CONTEXTS = Object.keys(DECISION_VOCABULARY) as DecisionContext[];

/** All choices across every context, in declaration order. */
export const DECISION_CHOICES: DecisionChoice[] = DECISION_CONTEXTS.flatMap(
  (context) => [...DECISION_VOCABULARY[context]],
);

const CONTEXT_OF_CHOICE = new Map<string, DecisionContext>(
  DECISION_CONTEXTS.flatMap((context) =>
    DECISION_VOCABULARY[context].map((choice) => [choice, context] as const),
  ),
);

/** The one context that owns `choice`. */
export function contextOfChoice(choice: DecisionChoice): DecisionContext {
  const context = CONTEXT_OF_CHOICE.get(choice);
  // Unreachable for a typed caller; guards an unvalidated string cast to a choice.
  if (context === undefined) throw new Error(`Unknown decision choice "${choice}"`);
  return context;
}

/** True when `value` is a known decision context (for query validation). */
export function isDecisionContext(value: string): value is DecisionContext {
  return Object.hasOwn(DECISION_VOCABULARY, value);
}

/** True when `value` is a known choice token in any context. */
export function isDecisionChoice(value: string): value is DecisionChoice {
  return CONTEXT_OF_CHOICE.has(value);
}

/** A recorded decision; never edited, a correction is a new one with `parent_id`. */
export type DecisionRecord = {
  id: string;
  context: DecisionContext;
  choice: DecisionChoice;
  decided_by: string;
  rule: string;
  subject_id: string;
  reasoning: string;
  inputs: Record<string, unknown>;
  confidence_source: "self_reported";
  parent_id: string | null;
  override_kind: string | null;
  recorded_at: string;
};

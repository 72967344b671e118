// The closed vocabulary of refusals. Every refusal the service makes names one
// of these classes; the core decides which, and only the HTTP edge
// (src/api/problem.ts) knows what status each class answers with.

export const ERROR_CLASSES = [
  // the request itself
  "ValidationFailed",
  "MalformedRequest",
  "PayloadTooLarge",
  "UnsupportedMediaType",
  "InvalidCursor",
  "RouteNotFound",
  "HttpError",
  "IllFormedInput",
  "NestingTooDeep",
  "MethodNotAllowed",
  // who is asking
  "Unauthenticated",
  "Forbidden",
  "IdempotencyKeyReused",
  "RateLimited",
  // the procedure's lifecycle
  "ProcedureNotFound",
  "ProcedureIdMismatch",
  "ProcedureAlreadyExists",
  "ProcedureCannotStart",
  "ProcedureCannotHold",
  "ProcedureCannotResume",
  "ProcedureCannotComplete",
  "ProcedureCannotAbort",
  "ProcedureCannotTruncate",
  "ProcedureHoldClaimsRemain",
  "ProcedureNotConducted",
  "InterruptedAtInFuture",
  "ReEstablishmentBoundaryInvalid",
  "ReplayStepNotAwaitingOperator",
  "ProcedureArchived",
  "ArchiveUnavailable",
  // conduct and the manifest
  "ManifestNotFound",
  "StepResolutionFailed",
  "StepResolutionLimitExceeded",
  "PseudoaxisSelfReference",
  "PseudoaxisNotFound",
  "PseudoaxisOfPseudoaxis",
  // the activity logbook
  "ProcedureStepsLogbookClosed",
  "StepEntryInvalid",
  "StepIndexOutOfRange",
  "StepKindMismatch",
  "StepOutOfOrder",
  "AcquisitionResumeRequiresOperator",
  "ActivityEntryTooLarge",
  "ActivityEventIdReused",
  // other resources
  "ActorNotFound",
  "PrincipalNotFound",
  "PrincipalManagedElsewhere",
  "PrincipalRevoked",
  "AdminCannotBeScoped",
  "DecisionNotFound",
  "TemplateNotFound",
  // webhook subscriptions
  "SubscriptionNotFound",
  "WebhookUrlNotAllowed",
  "SubscriptionLimitReached",
  "UnknownEventType",
  "DeliveryNotFound",
  "DeliveryNotRedeliverable",
  // live progress
  "StreamWatcherLimitReached",
  "StreamReplayTooLong",
  // the service itself
  "ServiceOverloaded",
  "InternalError",
] as const;

export type ErrorClass = (typeof ERROR_CLASSES)[number];

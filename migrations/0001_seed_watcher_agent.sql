-- The stall watcher acts as this agent: its actor is the kill switch and its
-- principal carries the read grant it needs (ListProcedures), nothing more.
INSERT INTO `actors` (`actor_id`, `kind`, `name`, `active`, `updated_at`)
VALUES ('01900000-0000-7000-8000-00000c0c0010', 'agent', 'ProcedureWatcher', 1, '2026-11-21T00:00:00.000Z');
--> statement-breakpoint
INSERT INTO `principals` (`principal_id`, `name`, `roles`, `token_hash`, `created_at`)
VALUES ('01900000-0000-7000-8000-00000c0c0010', 'ProcedureWatcher', '["reader"]', NULL, '2026-11-21T00:00:00.000Z');

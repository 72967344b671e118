CREATE TABLE `actors` (
	`actor_id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`name` text NOT NULL,
	`active` integer NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `decisions` (
	`id` text PRIMARY KEY NOT NULL,
	`context` text NOT NULL,
	`choice` text NOT NULL,
	`decided_by` text NOT NULL,
	`rule` text NOT NULL,
	`subject_id` text NOT NULL,
	`reasoning` text NOT NULL,
	`inputs` text NOT NULL,
	`confidence_source` text NOT NULL,
	`parent_id` text,
	`override_kind` text,
	`recorded_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `decisions_recorded` ON `decisions` (`recorded_at`,`id`);--> statement-breakpoint
CREATE INDEX `decisions_subject` ON `decisions` (`subject_id`,`recorded_at`,`id`);--> statement-breakpoint
CREATE TABLE `idempotency_keys` (
	`principal_id` text NOT NULL,
	`idempotency_key` text NOT NULL,
	`procedure_id` text NOT NULL,
	`request_hash` text NOT NULL,
	`created_at` text NOT NULL,
	PRIMARY KEY(`principal_id`, `idempotency_key`)
);
--> statement-breakpoint
CREATE TABLE `principals` (
	`principal_id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`roles` text NOT NULL,
	`token_hash` text,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `principals_token_hash_unique` ON `principals` (`token_hash`);--> statement-breakpoint
CREATE TABLE `procedure_summary` (
	`procedure_id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`target_asset_ids` text NOT NULL,
	`status` text NOT NULL,
	`activity_logbook_id` text,
	`registered_at` text NOT NULL,
	`last_status_changed_at` text,
	`last_status_reason` text,
	`interrupted_at` text,
	`hold_causes` text NOT NULL,
	`version` integer NOT NULL,
	`last_activity_at` text,
	`updated_at` text NOT NULL,
	`progress_at` text GENERATED ALWAYS AS (CASE WHEN status = 'Running' AND last_activity_at > last_status_changed_at THEN last_activity_at ELSE last_status_changed_at END) STORED,
	`watch_window` text GENERATED ALWAYS AS (CASE WHEN status = 'Running' THEN 'running' WHEN status = 'Held' AND (hold_causes LIKE '%step-fault%' OR hold_causes LIKE '%driver-stand-down%') THEN 'running' WHEN status = 'Held' THEN 'held' END) STORED,
	`stall_flagged_at` text
);
--> statement-breakpoint
CREATE INDEX `procedure_summary_registered` ON `procedure_summary` (`registered_at`,`procedure_id`);--> statement-breakpoint
CREATE INDEX `procedure_summary_status` ON `procedure_summary` (`status`,`registered_at`,`procedure_id`);--> statement-breakpoint
CREATE INDEX `procedure_summary_kind` ON `procedure_summary` (`kind`,`registered_at`,`procedure_id`);--> statement-breakpoint
CREATE INDEX `procedure_summary_watch` ON `procedure_summary` (`watch_window`,`progress_at`,`procedure_id`) WHERE watch_window IS NOT NULL AND (stall_flagged_at IS NULL OR stall_flagged_at <> progress_at);--> statement-breakpoint
CREATE TABLE `pseudoaxes` (
	`name` text PRIMARY KEY NOT NULL,
	`constituents` text NOT NULL,
	`updated_at` text NOT NULL,
	`updated_by` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `watcher_state` (
	`id` integer PRIMARY KEY NOT NULL,
	`last_tick` text,
	`denied_since` text
);

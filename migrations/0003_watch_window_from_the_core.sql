-- The stall-window policy moves out of SQL: `watch_window` becomes a plain
-- column the projection writes from the watcher's core, beside the
-- procedure's own window and the due time derived from it. SQLite cannot
-- alter a generated column, so procedure_summary is rebuilt; existing rows
-- keep the window the old expression gave them (the same as the core's for a
-- procedure without its own window). Listing by target asset gets its own
-- table, filled here from the rows already projected.
CREATE TABLE `procedure_targets` (
	`asset_id` text NOT NULL,
	`registered_at` text NOT NULL,
	`procedure_id` text NOT NULL,
	PRIMARY KEY(`asset_id`, `registered_at`, `procedure_id`)
);
--> statement-breakpoint
CREATE TABLE `__new_procedure_summary` (
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
	`stale_after_seconds` integer,
	`watch_window` text,
	`stall_due_at` text GENERATED ALWAYS AS (CASE WHEN watch_window = 'own' THEN strftime('%Y-%m-%dT%H:%M:%fZ', progress_at, '+' || stale_after_seconds || ' seconds') END) STORED,
	`stall_flagged_at` text
);
--> statement-breakpoint
INSERT INTO `__new_procedure_summary` (`procedure_id`, `name`, `kind`, `target_asset_ids`, `status`, `activity_logbook_id`,
	`registered_at`, `last_status_changed_at`, `last_status_reason`, `interrupted_at`, `hold_causes`, `version`,
	`last_activity_at`, `updated_at`, `watch_window`, `stall_flagged_at`)
SELECT `procedure_id`, `name`, `kind`, `target_asset_ids`, `status`, `activity_logbook_id`,
	`registered_at`, `last_status_changed_at`, `last_status_reason`, `interrupted_at`, `hold_causes`, `version`,
	`last_activity_at`, `updated_at`, `watch_window`, `stall_flagged_at`
FROM `procedure_summary`;
--> statement-breakpoint
DROP TABLE `procedure_summary`;
--> statement-breakpoint
ALTER TABLE `__new_procedure_summary` RENAME TO `procedure_summary`;
--> statement-breakpoint
CREATE INDEX `procedure_summary_registered` ON `procedure_summary` (`registered_at`,`procedure_id`);--> statement-breakpoint
CREATE INDEX `procedure_summary_status` ON `procedure_summary` (`status`,`registered_at`,`procedure_id`);--> statement-breakpoint
CREATE INDEX `procedure_summary_kind` ON `procedure_summary` (`kind`,`registered_at`,`procedure_id`);--> statement-breakpoint
CREATE INDEX `procedure_summary_watch` ON `procedure_summary` (`watch_window`,`progress_at`,`procedure_id`) WHERE watch_window IS NOT NULL AND (stall_flagged_at IS NULL OR stall_flagged_at <> progress_at);--> statement-breakpoint
CREATE INDEX `procedure_summary_watch_own` ON `procedure_summary` (`stall_due_at`,`procedure_id`) WHERE watch_window = 'own' AND (stall_flagged_at IS NULL OR stall_flagged_at <> progress_at);--> statement-breakpoint
INSERT INTO `procedure_targets` (`asset_id`, `registered_at`, `procedure_id`)
SELECT `j`.`value`, `s`.`registered_at`, `s`.`procedure_id` FROM `procedure_summary` AS `s`, json_each(`s`.`target_asset_ids`) AS `j` WHERE true
ON CONFLICT DO NOTHING;

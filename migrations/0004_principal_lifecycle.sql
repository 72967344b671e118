CREATE TABLE `audit_log` (
	`audit_id` text PRIMARY KEY NOT NULL,
	`action` text NOT NULL,
	`subject_id` text NOT NULL,
	`actor_id` text NOT NULL,
	`reason` text,
	`occurred_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_log_occurred` ON `audit_log` (`occurred_at`,`audit_id`);--> statement-breakpoint
CREATE INDEX `audit_log_subject` ON `audit_log` (`subject_id`,`occurred_at`,`audit_id`);--> statement-breakpoint
ALTER TABLE `principals` ADD `scopes` text;--> statement-breakpoint
ALTER TABLE `principals` ADD `expires_at` text;--> statement-breakpoint
ALTER TABLE `principals` ADD `revoked_at` text;--> statement-breakpoint
ALTER TABLE `principals` ADD `revoked_reason` text;--> statement-breakpoint
ALTER TABLE `principals` ADD `rotated_at` text;
ALTER TABLE `procedure_summary` ADD `archive_requested_at` text;--> statement-breakpoint
ALTER TABLE `procedure_summary` ADD `archived_at` text;--> statement-breakpoint
CREATE INDEX `procedure_summary_archive` ON `procedure_summary` (`last_status_changed_at`,`procedure_id`) WHERE archive_requested_at IS NULL AND status IN ('Completed', 'Aborted', 'Truncated');--> statement-breakpoint
CREATE INDEX `idempotency_keys_created` ON `idempotency_keys` (`created_at`);
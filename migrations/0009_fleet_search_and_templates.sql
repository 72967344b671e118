DROP INDEX `procedure_summary_kind`;--> statement-breakpoint
ALTER TABLE `procedure_summary` ADD `step_count` integer;--> statement-breakpoint
ALTER TABLE `procedure_summary` ADD `completed_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `procedure_summary` ADD `stalled` integer GENERATED ALWAYS AS (watch_window IS NOT NULL AND stall_flagged_at IS NOT NULL AND stall_flagged_at = progress_at) VIRTUAL;--> statement-breakpoint
ALTER TABLE `procedure_summary` ADD `attention` integer GENERATED ALWAYS AS (CASE WHEN status = 'Held' OR stalled THEN 0 WHEN status = 'Running' THEN 1 ELSE 2 END) VIRTUAL;--> statement-breakpoint
CREATE INDEX `procedure_summary_kind_nocase` ON `procedure_summary` ("kind" COLLATE NOCASE,`registered_at`,`procedure_id`);--> statement-breakpoint
CREATE INDEX `procedure_summary_attention` ON `procedure_summary` (`attention`,`registered_at`,`procedure_id`);--> statement-breakpoint
CREATE INDEX `procedure_targets_asset_nocase` ON `procedure_targets` ("asset_id" COLLATE NOCASE,`registered_at`,`procedure_id`);--> statement-breakpoint
CREATE TABLE `templates` (
	`name` text PRIMARY KEY NOT NULL,
	`description` text,
	`kind` text,
	`conduct` text NOT NULL,
	`updated_at` text NOT NULL,
	`updated_by` text NOT NULL
);
--> statement-breakpoint
-- The list's `q`: a full-text index of each procedure's name and kind (FTS5,
-- words folded to lower case without diacritics), so a search reads the
-- matching procedures, not every one. Contentless: it holds only the index,
-- keyed by the summary's rowid. Name and kind are fixed at registration, so
-- the summary's first insert writes the entry and no update touches it.
CREATE VIRTUAL TABLE `procedure_search` USING fts5(name, kind, content='', tokenize='unicode61 remove_diacritics 2');
--> statement-breakpoint
INSERT INTO `procedure_search` (rowid, name, kind) SELECT rowid, name, kind FROM `procedure_summary`;
--> statement-breakpoint
CREATE TRIGGER procedure_search_follows_summary AFTER INSERT ON procedure_summary
BEGIN
  INSERT INTO procedure_search (rowid, name, kind) VALUES (NEW.rowid, NEW.name, NEW.kind);
END;

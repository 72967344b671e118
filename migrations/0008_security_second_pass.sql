-- Definition changes are audited with their value before and after; a
-- principal's active subscriptions are counted by their creator (the cap);
-- Slack links come from PUBLIC_CONSOLE_URL, no longer from the creating
-- request's host, so the stored origin goes.
ALTER TABLE `audit_log` ADD `before` text;--> statement-breakpoint
ALTER TABLE `audit_log` ADD `after` text;--> statement-breakpoint
CREATE INDEX `subscriptions_by_creator` ON `subscriptions` (`created_by`,`active`);--> statement-breakpoint
ALTER TABLE `subscriptions` DROP COLUMN `origin`;
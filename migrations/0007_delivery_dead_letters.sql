ALTER TABLE `deliveries` ADD `notification` text;--> statement-breakpoint
CREATE INDEX `deliveries_by_outcome` ON `deliveries` (`outcome`,`attempted_at`,`delivery_id`);
CREATE TABLE `deliveries` (
	`delivery_id` text PRIMARY KEY NOT NULL,
	`subscription_id` text NOT NULL,
	`webhook_id` text NOT NULL,
	`event_type` text NOT NULL,
	`attempt` integer NOT NULL,
	`status_code` integer,
	`outcome` text NOT NULL,
	`attempted_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `deliveries_by_subscription` ON `deliveries` (`subscription_id`,`attempted_at`,`delivery_id`);--> statement-breakpoint
CREATE INDEX `deliveries_by_webhook` ON `deliveries` (`webhook_id`,`subscription_id`,`outcome`);--> statement-breakpoint
CREATE TABLE `notification_outbox` (
	`webhook_id` text PRIMARY KEY NOT NULL,
	`message` text NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `subscriptions` (
	`subscription_id` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`event_types` text NOT NULL,
	`filter_kind` text,
	`filter_target_asset_id` text,
	`format` text NOT NULL,
	`description` text,
	`secret_ciphertext` text NOT NULL,
	`origin` text NOT NULL,
	`created_by` text NOT NULL,
	`scope_target_asset_ids` text,
	`active` integer NOT NULL,
	`created_at` text NOT NULL,
	`deleted_at` text
);
--> statement-breakpoint
CREATE INDEX `subscriptions_listed` ON `subscriptions` (`active`,`created_at`,`subscription_id`);
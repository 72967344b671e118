CREATE TABLE `refusal_counts` (
	`minute` text NOT NULL,
	`error_class` text NOT NULL,
	`count` integer NOT NULL,
	PRIMARY KEY(`minute`, `error_class`)
);
--> statement-breakpoint
CREATE TABLE `watcher_ticks` (
	`started_at` text PRIMARY KEY NOT NULL,
	`outcome` text NOT NULL,
	`duration_ms` integer NOT NULL,
	`rows_read` integer NOT NULL,
	`candidates` integer NOT NULL,
	`flagged` integer NOT NULL,
	`acted` integer NOT NULL,
	`archived` integer NOT NULL,
	`failures` integer NOT NULL
);

-- Preventive maintenance (cloud/pm): schedules, the occurrences they
-- generated (the unique key that makes generation idempotent across
-- replicas), runtime counters from telemetry, and store calendars.
CREATE TABLE pm_schedules (id TEXT PRIMARY KEY, site TEXT NOT NULL, asset_class TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX pm_schedules_site ON pm_schedules (site);
CREATE TABLE pm_occurrences (
	schedule TEXT NOT NULL,
	site TEXT NOT NULL,
	asset TEXT NOT NULL,
	occurrence TEXT NOT NULL,
	due_at BIGINT NOT NULL,
	wo TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	PRIMARY KEY (schedule, site, asset, occurrence)
);
CREATE INDEX pm_occurrences_due ON pm_occurrences (due_at);
CREATE INDEX pm_occurrences_wo ON pm_occurrences (wo);
CREATE TABLE pm_runtime (
	site TEXT NOT NULL,
	asset TEXT NOT NULL,
	at BIGINT NOT NULL,
	hours DOUBLE PRECISION NOT NULL,
	run_hours DOUBLE PRECISION NOT NULL,
	defrosts INTEGER NOT NULL,
	PRIMARY KEY (site, asset, at)
);
CREATE TABLE pm_calendars (site TEXT PRIMARY KEY, data TEXT NOT NULL);

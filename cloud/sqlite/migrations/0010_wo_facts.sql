-- One row of KPI facts per work order (cloud/analytics.Facts), written in
-- the work order's own transaction; KPI queries aggregate over it. Times
-- are Unix microseconds; span_end is the last moment the work order can
-- count in a period (the largest BIGINT while it is open), so a period
-- only reads rows with created_at < to AND span_end >= from.
CREATE TABLE wo_facts (
	wo TEXT PRIMARY KEY,
	site TEXT NOT NULL,
	asset TEXT NOT NULL,
	asset_class TEXT NOT NULL,
	trade TEXT NOT NULL,
	vendor TEXT NOT NULL,
	technician TEXT NOT NULL,
	priority TEXT NOT NULL,
	source TEXT NOT NULL,
	problem TEXT NOT NULL,
	status TEXT NOT NULL,
	is_open INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	span_end INTEGER NOT NULL,
	onset_at INTEGER NOT NULL,
	cond INTEGER NOT NULL,
	dispatched INTEGER NOT NULL,
	accepted_at INTEGER,
	accept_s REAL,
	onsite_at INTEGER,
	completed_at INTEGER,
	sensor_restored_at INTEGER,
	restored_at INTEGER,
	ended_at INTEGER,
	verified INTEGER NOT NULL,
	visits INTEGER NOT NULL,
	fix_visit INTEGER NOT NULL,
	recall INTEGER NOT NULL,
	recalled INTEGER NOT NULL DEFAULT 0,
	cost REAL NOT NULL,
	nte REAL NOT NULL,
	overrun INTEGER NOT NULL,
	documented INTEGER NOT NULL,
	incidents INTEGER NOT NULL,
	recall_of TEXT NOT NULL,
	ack_due INTEGER,
	ack_done INTEGER,
	arrive_due INTEGER,
	arrive_done INTEGER,
	complete_due INTEGER,
	complete_done INTEGER,
	pm_due INTEGER,
	-- changed_at is when the row was last written (wall clock): rollup days
	-- built before it are stale for the row's days.
	changed_at INTEGER NOT NULL DEFAULT 0,
	-- long_lived: open, or lived more than 7 days (sqldb.longLife). A period [a, b)
	-- reads the others by created_at in [a - 7 days, b), these by span_end >= a.
	long_lived INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX wo_facts_long ON wo_facts (long_lived, span_end);
CREATE INDEX wo_facts_created ON wo_facts (created_at, span_end);
CREATE INDEX wo_facts_site ON wo_facts (site, created_at);
CREATE INDEX wo_facts_changed ON wo_facts (changed_at)

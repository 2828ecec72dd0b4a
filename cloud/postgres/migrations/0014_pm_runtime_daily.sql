-- Daily sums of pm_runtime, kept in the transaction that records the
-- samples: usage since a schedule's start reads one row a day, not one a
-- telemetry period. Day b covers samples with b < at <= b + 1 day.
CREATE TABLE pm_runtime_daily (
	site TEXT NOT NULL,
	asset TEXT NOT NULL,
	day BIGINT NOT NULL,
	hours DOUBLE PRECISION NOT NULL,
	run_hours DOUBLE PRECISION NOT NULL,
	defrosts INTEGER NOT NULL,
	PRIMARY KEY (site, asset, day)
);
INSERT INTO pm_runtime_daily (site, asset, day, hours, run_hours, defrosts)
	SELECT site, asset, ((at - 1) / 86400000000) * 86400000000, SUM(hours), SUM(run_hours), SUM(defrosts)
	FROM pm_runtime GROUP BY site, asset, ((at - 1) / 86400000000) * 86400000000

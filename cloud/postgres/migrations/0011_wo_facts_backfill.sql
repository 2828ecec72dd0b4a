-- Work orders saved before wo_facts existed get their facts from the Go
-- backfill that runs right after the migrations (sqldb.DB.BackfillFacts);
-- done turns 1 when it has finished, so it runs once per database.
CREATE TABLE wo_facts_backfill (done INTEGER NOT NULL);
INSERT INTO wo_facts_backfill (done) VALUES (0);
-- The daily rollup of the facts (cloud/internal/sqldb/kpis.go): per UTC
-- day and combination of region, asset class, trade, vendor, priority and
-- source (site ''), and per day and site (the other columns ''), the 48
-- additive sums of a KPI query over that day (a00..a47 in the order of
-- kpiAdd). Long periods sum these rows instead of every
-- work order's facts. A day is in wo_facts_rolled once built, with when.
CREATE TABLE wo_facts_daily (
	day BIGINT NOT NULL,
	site TEXT NOT NULL,
	region TEXT NOT NULL,
	asset_class TEXT NOT NULL,
	trade TEXT NOT NULL,
	vendor TEXT NOT NULL,
	priority TEXT NOT NULL,
	source TEXT NOT NULL,
	a00 DOUBLE PRECISION NOT NULL,
	a01 DOUBLE PRECISION NOT NULL,
	a02 DOUBLE PRECISION NOT NULL,
	a03 DOUBLE PRECISION NOT NULL,
	a04 DOUBLE PRECISION NOT NULL,
	a05 DOUBLE PRECISION NOT NULL,
	a06 DOUBLE PRECISION NOT NULL,
	a07 DOUBLE PRECISION NOT NULL,
	a08 DOUBLE PRECISION NOT NULL,
	a09 DOUBLE PRECISION NOT NULL,
	a10 DOUBLE PRECISION NOT NULL,
	a11 DOUBLE PRECISION NOT NULL,
	a12 DOUBLE PRECISION NOT NULL,
	a13 DOUBLE PRECISION NOT NULL,
	a14 DOUBLE PRECISION NOT NULL,
	a15 DOUBLE PRECISION NOT NULL,
	a16 DOUBLE PRECISION NOT NULL,
	a17 DOUBLE PRECISION NOT NULL,
	a18 DOUBLE PRECISION NOT NULL,
	a19 DOUBLE PRECISION NOT NULL,
	a20 DOUBLE PRECISION NOT NULL,
	a21 DOUBLE PRECISION NOT NULL,
	a22 DOUBLE PRECISION NOT NULL,
	a23 DOUBLE PRECISION NOT NULL,
	a24 DOUBLE PRECISION NOT NULL,
	a25 DOUBLE PRECISION NOT NULL,
	a26 DOUBLE PRECISION NOT NULL,
	a27 DOUBLE PRECISION NOT NULL,
	a28 DOUBLE PRECISION NOT NULL,
	a29 DOUBLE PRECISION NOT NULL,
	a30 DOUBLE PRECISION NOT NULL,
	a31 DOUBLE PRECISION NOT NULL,
	a32 DOUBLE PRECISION NOT NULL,
	a33 DOUBLE PRECISION NOT NULL,
	a34 DOUBLE PRECISION NOT NULL,
	a35 DOUBLE PRECISION NOT NULL,
	a36 DOUBLE PRECISION NOT NULL,
	a37 DOUBLE PRECISION NOT NULL,
	a38 DOUBLE PRECISION NOT NULL,
	a39 DOUBLE PRECISION NOT NULL,
	a40 DOUBLE PRECISION NOT NULL,
	a41 DOUBLE PRECISION NOT NULL,
	a42 DOUBLE PRECISION NOT NULL,
	a43 DOUBLE PRECISION NOT NULL,
	a44 DOUBLE PRECISION NOT NULL,
	a45 DOUBLE PRECISION NOT NULL,
	a46 DOUBLE PRECISION NOT NULL,
	a47 DOUBLE PRECISION NOT NULL,
	PRIMARY KEY (day, site, region, asset_class, trade, vendor, priority, source)
);
CREATE TABLE wo_facts_rolled (day BIGINT PRIMARY KEY, built_at BIGINT NOT NULL);
-- Days a facts row left (a reopened work order completed again, a
-- redispatch restarting its clocks): their rollup is stale too.
CREATE TABLE wo_facts_moves (day BIGINT PRIMARY KEY, at BIGINT NOT NULL);
-- checked: every facts change before it (less a grace) is in the rollup.
CREATE TABLE wo_facts_rollup (checked BIGINT NOT NULL);
INSERT INTO wo_facts_rollup (checked) VALUES (0)

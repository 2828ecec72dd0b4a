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
	day INTEGER NOT NULL,
	site TEXT NOT NULL,
	region TEXT NOT NULL,
	asset_class TEXT NOT NULL,
	trade TEXT NOT NULL,
	vendor TEXT NOT NULL,
	priority TEXT NOT NULL,
	source TEXT NOT NULL,
	a00 REAL NOT NULL,
	a01 REAL NOT NULL,
	a02 REAL NOT NULL,
	a03 REAL NOT NULL,
	a04 REAL NOT NULL,
	a05 REAL NOT NULL,
	a06 REAL NOT NULL,
	a07 REAL NOT NULL,
	a08 REAL NOT NULL,
	a09 REAL NOT NULL,
	a10 REAL NOT NULL,
	a11 REAL NOT NULL,
	a12 REAL NOT NULL,
	a13 REAL NOT NULL,
	a14 REAL NOT NULL,
	a15 REAL NOT NULL,
	a16 REAL NOT NULL,
	a17 REAL NOT NULL,
	a18 REAL NOT NULL,
	a19 REAL NOT NULL,
	a20 REAL NOT NULL,
	a21 REAL NOT NULL,
	a22 REAL NOT NULL,
	a23 REAL NOT NULL,
	a24 REAL NOT NULL,
	a25 REAL NOT NULL,
	a26 REAL NOT NULL,
	a27 REAL NOT NULL,
	a28 REAL NOT NULL,
	a29 REAL NOT NULL,
	a30 REAL NOT NULL,
	a31 REAL NOT NULL,
	a32 REAL NOT NULL,
	a33 REAL NOT NULL,
	a34 REAL NOT NULL,
	a35 REAL NOT NULL,
	a36 REAL NOT NULL,
	a37 REAL NOT NULL,
	a38 REAL NOT NULL,
	a39 REAL NOT NULL,
	a40 REAL NOT NULL,
	a41 REAL NOT NULL,
	a42 REAL NOT NULL,
	a43 REAL NOT NULL,
	a44 REAL NOT NULL,
	a45 REAL NOT NULL,
	a46 REAL NOT NULL,
	a47 REAL NOT NULL,
	PRIMARY KEY (day, site, region, asset_class, trade, vendor, priority, source)
);
CREATE TABLE wo_facts_rolled (day INTEGER PRIMARY KEY, built_at INTEGER NOT NULL);
-- Days a facts row left (a reopened work order completed again, a
-- redispatch restarting its clocks): their rollup is stale too.
CREATE TABLE wo_facts_moves (day INTEGER PRIMARY KEY, at INTEGER NOT NULL);
-- checked: every facts change before it (less a grace) is in the rollup.
CREATE TABLE wo_facts_rollup (checked INTEGER NOT NULL);
INSERT INTO wo_facts_rollup (checked) VALUES (0)

CREATE TABLE sites (id TEXT PRIMARY KEY, region TEXT NOT NULL DEFAULT '', data TEXT NOT NULL);
CREATE INDEX sites_region ON sites (region);
CREATE TABLE assets (site TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (site, id));
CREATE TABLE workorders (
	id TEXT PRIMARY KEY,
	number INTEGER NOT NULL UNIQUE,
	site TEXT NOT NULL,
	asset TEXT NOT NULL,
	family TEXT NOT NULL,
	problem TEXT NOT NULL,
	source TEXT NOT NULL,
	trade TEXT NOT NULL,
	priority TEXT NOT NULL,
	status TEXT NOT NULL,
	vendor TEXT NOT NULL DEFAULT '',
	technician TEXT NOT NULL DEFAULT '',
	is_open INTEGER NOT NULL,
	hold_until INTEGER,
	verified_at INTEGER,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	version INTEGER NOT NULL,
	data TEXT NOT NULL
);
-- One open work order per problem on an asset: the dedup rule, enforced.
CREATE UNIQUE INDEX wo_one_open ON workorders (site, asset, family) WHERE is_open = 1;
CREATE INDEX wo_verified ON workorders (site, asset, family, verified_at) WHERE verified_at IS NOT NULL;
CREATE INDEX wo_site ON workorders (site, number);
CREATE INDEX wo_asset ON workorders (site, asset, number);
CREATE INDEX wo_status ON workorders (status, number);
CREATE INDEX wo_vendor ON workorders (vendor, number);
CREATE INDEX wo_priority ON workorders (priority, number);
CREATE INDEX wo_created ON workorders (created_at);
CREATE INDEX wo_hold ON workorders (hold_until) WHERE status = 'triaged';
CREATE TABLE wo_events (wo TEXT NOT NULL, version INTEGER NOT NULL, at INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (wo, version));
CREATE TABLE wo_incidents (incident TEXT PRIMARY KEY, wo TEXT NOT NULL);
CREATE TABLE processed (key TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, data TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO counters (name, value) VALUES ('workorder', 0);

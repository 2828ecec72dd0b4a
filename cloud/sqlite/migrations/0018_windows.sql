-- Evidence windows (issue 18): the asset's recent history an incident
-- event carries from the edge (wire.Window, JSON), kept for the chart of
-- the work order the incident is attached to. Keyed by incident, not work
-- order: an event held for its turn is not attached yet. One row per
-- incident and event kind (opened, updated, cleared), the newest sequence
-- number winning: at most three per incident, each capped by the wire
-- contract.
CREATE TABLE wo_windows (
	incident TEXT NOT NULL,
	event TEXT NOT NULL,
	site TEXT NOT NULL,
	asset TEXT NOT NULL,
	seq INTEGER NOT NULL,
	at BIGINT NOT NULL,
	data TEXT NOT NULL,
	PRIMARY KEY (incident, event)
);
CREATE INDEX wo_windows_asset ON wo_windows (site, asset, at)

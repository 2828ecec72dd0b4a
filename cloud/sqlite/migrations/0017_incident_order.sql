-- Order within an incident (issue 20): an incident's events are applied in
-- sequence order whichever replica commits which first. incident_order is
-- the row a transaction on the incident locks, with the last sequence
-- applied and how many events wait; incident_held keeps the events that
-- came before their predecessor, until it is applied. Rows of incident_order
-- are pruned with the message claims (at: last touched).
CREATE TABLE incident_order (
	incident TEXT PRIMARY KEY,
	applied INTEGER NOT NULL,
	held INTEGER NOT NULL,
	at BIGINT NOT NULL
);
CREATE INDEX incident_order_at ON incident_order (at);
CREATE TABLE incident_held (
	incident TEXT NOT NULL,
	seq INTEGER NOT NULL,
	data TEXT NOT NULL,
	held_at BIGINT NOT NULL,
	PRIMARY KEY (incident, seq)
)

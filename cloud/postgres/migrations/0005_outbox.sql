-- Work-order events waiting to be published to JetStream (FROSTLINE_EVENTS),
-- written in the same transaction as the events themselves.
CREATE TABLE outbox (id BIGSERIAL PRIMARY KEY, subject TEXT NOT NULL, msg_id TEXT NOT NULL, data TEXT NOT NULL, at BIGINT NOT NULL);

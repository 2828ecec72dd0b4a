INSERT INTO outbox (subject, msg_id, data, at) VALUES ($1, $2, $3, $4)

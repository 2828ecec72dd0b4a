WITH c AS MATERIALIZED (SELECT id FROM webhook_deliveries
			WHERE state = 'pending' AND next_at <= $3 AND lease_until <= $3 AND webhook IN (SELECT id FROM webhooks WHERE active = 1)
			ORDER BY next_at LIMIT $4 FOR UPDATE SKIP LOCKED)
		UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2
		WHERE id IN (SELECT id FROM c) AND state = 'pending' AND lease_until <= $3 RETURNING id, body

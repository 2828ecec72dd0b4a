WITH c AS MATERIALIZED (SELECT id FROM notifications
			WHERE state = 'pending' AND next_at <= $3 AND lease_until <= $3
			ORDER BY next_at LIMIT $4)
		UPDATE notifications SET lease_owner = $1, lease_until = $2
		WHERE id IN (SELECT id FROM c) AND state = 'pending' AND lease_until <= $3 RETURNING id, body

INSERT INTO incident_order (incident, applied, held, at) VALUES ($1, $2, $3, $4), ($5, $6, $7, $8) ON CONFLICT (incident) DO UPDATE SET at = excluded.at RETURNING incident, applied, held

WITH u AS (UPDATE workorders SET data = $2 WHERE id = $1 AND version = $3 RETURNING id)
		INSERT INTO wo_events (wo, version, at, data) SELECT v.wo, v.version, v.at, v.data FROM u,
		(VALUES ($4::text, $5::integer, $6::bigint, $7::text), ($8::text, $9::integer, $10::bigint, $11::text)) AS v(wo, version, at, data)

INSERT INTO processed (key, at) VALUES ($1, $2), ($3, $4) ON CONFLICT (key) DO NOTHING RETURNING key

INSERT INTO processed (key, at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING

-- A member's heartbeat: `expires_at` by the database's clock ($3 = ttl in ms), then every live
-- member (this one only if its ttl has not already run out), ordered by id.
WITH me AS (
    INSERT INTO cluster_members AS m (id, address, expires_at)
    VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond')
    ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, expires_at = EXCLUDED.expires_at
    RETURNING m.id, m.address, m.expires_at
)
SELECT id, address FROM me WHERE expires_at > now()
UNION ALL
SELECT id, address FROM cluster_members WHERE id <> $1 AND expires_at > now()
ORDER BY id

-- Bearer tokens for the JSON API under /api/: one per client program (a CAD system, a reporting job), each acting
-- as a dispatcher or an admin, never as a customer.
--
-- The token is 256 random bits shown once when it is made (`alarmhub admin create-api-token`); only its SHA-256
-- is kept, so a copy of this table opens nothing. A slow salted hash would add nothing for a random token of that
-- size, and one indexed lookup by hash keeps each API request cheap. A revoked token stays (who had access, and
-- until when); its name may then be given to a new token. last_used_at is coarse on purpose: the portal writes it
-- at most once a minute per token, not on every request.
--
-- Upgrading: `alarmhub migrate`, then restart the portals (an older portal has no /api/ authentication and
-- never reads this table).

CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Typed on a command line and shown in logs: letters, digits and . _ - only, up to 64.
    name         text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    -- Staff roles only: a customer's data is reached through the customer's own login, never a token.
    role         text NOT NULL CHECK (role IN ('dispatcher', 'admin')),
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Names are unique among live tokens (compared without case), so `revoke-api-token --name N` names one token.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (lower(name)) WHERE revoked_at IS NULL;

-- The portal's accounts: confirmed e-mail and permissions on users, server-side sessions, single-use tokens
-- (e-mail confirmation, password reset, invitation) and failed attempts for throttling.

ALTER TABLE users
    ADD COLUMN email_confirmed_at  timestamptz,
    ADD COLUMN password_changed_at timestamptz,
    -- What a secondary user may do beyond seeing the account; owners may do everything.
    ADD COLUMN permissions         text[] NOT NULL DEFAULT '{}',
    ADD COLUMN invited_by          bigint REFERENCES users ON DELETE SET NULL;

-- One owner per customer: two registrations racing for the same account cannot both win.
CREATE UNIQUE INDEX users_one_owner_per_customer ON users (customer_id) WHERE role = 'owner';

-- A login: the cookie carries a random id, the table its SHA-256, so a copy of the table opens no session.
-- Logging out revokes one row; a password change or reset revokes every row of the user.
CREATE TABLE user_sessions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    remote_addr  text NOT NULL DEFAULT ''
);
CREATE INDEX user_sessions_user_id ON user_sessions (user_id) WHERE revoked_at IS NULL;

-- Links sent by e-mail. Only the SHA-256 of the token is kept: a link is checked by hashing what it carries,
-- so a changed link matches nothing, and a used or expired one is refused by used_at / expires_at.
CREATE TABLE user_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('confirm_email', 'reset_password', 'invitation')),
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX user_tokens_user_purpose ON user_tokens (user_id, purpose) WHERE used_at IS NULL;

-- Failed logins, registrations and reset requests, by what was tried ('account': an e-mail or account number)
-- and from where ('address'); rows older than the throttle window are deleted as new ones arrive.
CREATE TABLE auth_failures (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action     text NOT NULL CHECK (action IN ('login', 'register', 'reset')),
    scope      text NOT NULL CHECK (scope IN ('account', 'address')),
    subject    text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_failures_subject ON auth_failures (action, scope, subject, failed_at);
CREATE INDEX auth_failures_failed_at ON auth_failures (failed_at);

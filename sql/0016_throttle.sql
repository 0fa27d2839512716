-- Login throttling that a shared address cannot turn against everyone (portal/accounts/throttle.py): failures
-- from a browser with a device cookie count against that cookie ('device', the SHA-256 of its id, never the id),
-- and an address's failures name the account they were aimed at, so its limit counts different accounts rather
-- than failures: one person mistyping at one account behind an office's address no longer slows the whole office.

ALTER TABLE auth_failures DROP CONSTRAINT auth_failures_scope_check;
ALTER TABLE auth_failures ADD CONSTRAINT auth_failures_scope_check CHECK (scope IN ('account', 'address', 'device'));
ALTER TABLE auth_failures ADD COLUMN account text;

-- The e-mail outbox: a mail is a row written in the same transaction as the event that causes it, and the
-- worker delivers it (SELECT ... FOR UPDATE SKIP LOCKED, so concurrent workers never send one row twice).

CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at      timestamptz NOT NULL DEFAULT now(),
    recipient       text NOT NULL CHECK (recipient ~ '^[^@\s]+@[^@\s]+$'),
    subject         text NOT NULL,
    -- The text may hold a single-use link: it is blanked once the mail is delivered.
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text NOT NULL DEFAULT '',
    sent_at         timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_created ON outbox (created_at DESC, id DESC);

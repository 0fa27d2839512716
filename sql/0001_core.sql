-- The core schema: who is monitored (customers, sites, panels), who logs in (users), and what panels sent (signals).

CREATE TABLE customers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (btrim(name) <> ''),
    email         text NOT NULL DEFAULT '',
    phone         text NOT NULL DEFAULT '',
    -- The security system's code (the passcode on the customer's paperwork): proves ownership at registration.
    security_code text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A monitored premises: the address the dispatcher sends help to.
CREATE TABLE sites (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers ON DELETE CASCADE,
    name        text NOT NULL DEFAULT 'Premises',
    address     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sites_customer_id ON sites (customer_id);

-- An alarm panel, known by its monitoring account number (3-16 hex digits, stored upper-case).
CREATE TABLE panels (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites ON DELETE CASCADE,
    account         text NOT NULL UNIQUE CHECK (account ~ '^[0-9A-F]{3,16}$'),
    receiver        text CHECK (receiver ~ '^[0-9A-F]{1,6}$'),   -- expected receiver number; NULL: any
    line            text CHECK (line ~ '^[0-9A-F]{1,6}$'),       -- expected line (account prefix); NULL: any
    -- The DC-09 AES key (16, 24 or 32 bytes) and how it was entered: as hex digits or as typed characters.
    dc09_key        bytea CHECK (dc09_key IS NULL OR length(dc09_key) IN (16, 24, 32)),
    dc09_key_format text CHECK (dc09_key_format IN ('hex', 'ascii')),
    test_interval   interval NOT NULL DEFAULT '24 hours' CHECK (test_interval > '0'),
    description     text NOT NULL DEFAULT '',
    last_seen_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((dc09_key IS NULL) = (dc09_key_format IS NULL))
);
CREATE INDEX panels_site_id ON panels (site_id);

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id   bigint REFERENCES customers ON DELETE CASCADE,
    email         text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    name          text NOT NULL DEFAULT '',
    role          text NOT NULL CHECK (role IN ('owner', 'secondary', 'dispatcher', 'admin')),
    password_hash text,                       -- Argon2id; NULL until an invited user chooses a password
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Customer users belong to a customer; staff do not.
    CHECK ((role IN ('owner', 'secondary')) = (customer_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_customer_id ON users (customer_id);

-- Every decoded event a panel sent, one row per event (a SIA block with three events is three rows).
-- No foreign keys: history outlives the panel, and the receiver's insert path stays cheap. panel_id, site_id
-- and customer_id are resolved at receipt and NULL when the account was unknown (SPEC R6).
CREATE TABLE signals (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account      text NOT NULL,
    panel_id     bigint,
    site_id      bigint,
    customer_id  bigint,
    transport    text NOT NULL CHECK (transport IN ('tcp', 'udp', 'mqtt')),
    remote_addr  text NOT NULL DEFAULT '',
    receiver     text NOT NULL DEFAULT '',
    line         text NOT NULL DEFAULT '',
    sequence     text NOT NULL,
    panel_time   timestamptz,                 -- the panel's timestamp (GMT); NULL when the frame had none
    received_at  timestamptz NOT NULL DEFAULT now(),
    event_index  smallint NOT NULL DEFAULT 0, -- position of the event within its message
    format       text NOT NULL CHECK (format IN ('ADM-CID', 'SIA-DCS')),
    code         text NOT NULL,
    qualifier    text NOT NULL CHECK (qualifier IN ('event', 'restore', 'status')),
    zone         text,
    partition    text,
    user_number  text,
    category     text NOT NULL CHECK (category IN
                     ('alarm', 'trouble', 'power', 'supervisory', 'open_close', 'bypass', 'test', 'other')),
    alarm_type   text,
    priority     smallint NOT NULL,
    description  text NOT NULL,
    extended     text[] NOT NULL DEFAULT '{}', -- DC-09 extended data blocks, as sent
    raw_frame    bytea NOT NULL                -- the frame exactly as received
);
-- The idempotency key: a retransmission (same account, receiver, line, sequence and panel time) is stored once.
-- A frame without a timestamp has NULL panel_time, and NULLs are distinct: such frames are never merged, because
-- sequence numbers wrap and merging them could drop a real signal.
CREATE UNIQUE INDEX signals_idempotency
    ON signals (account, receiver, line, sequence, panel_time, event_index);
CREATE INDEX signals_customer_received ON signals (customer_id, received_at DESC, id DESC);
CREATE INDEX signals_account_received ON signals (account, received_at DESC, id DESC);
CREATE INDEX signals_received ON signals USING brin (received_at);

-- Incidents (SPEC R8, R9, D1-D3): what the central station does about alarms, failures to communicate and
-- signals from unknown accounts; who handles each, every action on it, and the customer-facing parts around them
-- (a system put on test, alarm notifications).

-- Signals the central station makes itself: the supervision's "failure to communicate" and its restore. They are
-- signals like any other (the customer's history shows them, the incident opener reads them), told apart by their
-- transport. NOT VALID then VALIDATE: the check is proven without holding off the receivers' inserts.
ALTER TABLE signals DROP CONSTRAINT signals_transport_check;
ALTER TABLE signals ADD CONSTRAINT signals_transport_check
    CHECK (transport IN ('tcp', 'udp', 'mqtt', 'supervision')) NOT VALID;
ALTER TABLE signals VALIDATE CONSTRAINT signals_transport_check;

-- One incident per premises at a time (per account while the account is unknown): an alarm opens one or joins
-- the open one. The priority is its most urgent signal's (1 = most urgent, shared.incidents.priority).
CREATE TABLE incidents (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('alarm', 'failure_to_communicate', 'unknown_account')),
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    account          text NOT NULL,
    panel_id         bigint REFERENCES panels ON DELETE SET NULL,
    site_id          bigint REFERENCES sites ON DELETE SET NULL,
    customer_id      bigint REFERENCES customers ON DELETE SET NULL,
    -- 'site:<id>' for a known premises, 'account:<account>' for an unknown account: one open incident per key.
    premises_key     text NOT NULL,
    priority         smallint NOT NULL CHECK (priority >= 1),
    alarm_type       text,                                -- of its most urgent signal (alarms only)
    title            text NOT NULL,                       -- its most urgent signal, as the catalogue words it
    opened_at        timestamptz NOT NULL DEFAULT now(),
    first_signal_id  bigint NOT NULL,
    last_signal_at   timestamptz NOT NULL,
    signal_count     integer NOT NULL DEFAULT 1,
    restored_at      timestamptz,                         -- every alarm in it restored (NULL: not, or not yet)
    -- One dispatcher holds it at a time: set by one UPDATE that succeeds only while nobody holds it.
    holder_id        bigint REFERENCES users ON DELETE SET NULL,
    taken_at         timestamptz,
    held_until       timestamptz,                         -- on hold: presented again in the queue at this time
    closed_at        timestamptz,
    closed_by        bigint REFERENCES users ON DELETE SET NULL,
    disposition      text CHECK (disposition IN ('real_alarm', 'false_alarm', 'cancelled_by_customer', 'test',
                                                 'restored', 'attached', 'duplicate', 'no_action_needed')),
    false_alarm_cause text CHECK (false_alarm_cause IN ('user_error', 'equipment', 'weather', 'animal',
                                                       'installer', 'unknown', 'other')),
    disposition_note text NOT NULL DEFAULT '',
    CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    CHECK ((status = 'closed') = (disposition IS NOT NULL)),
    CHECK (false_alarm_cause IS NULL OR disposition = 'false_alarm')
);
CREATE UNIQUE INDEX incidents_open_premises ON incidents (premises_key) WHERE status = 'open';
-- The queue: open incidents by priority, then age.
CREATE INDEX incidents_queue ON incidents (priority, opened_at, id) WHERE status = 'open';
CREATE INDEX incidents_customer ON incidents (customer_id, opened_at DESC, id DESC);
CREATE INDEX incidents_closed ON incidents (closed_at DESC, id DESC) WHERE status = 'closed';

-- The signals of an incident: the one that opened it, those that joined it, the restores attached to it. A signal
-- belongs to one incident at most (the customer's history links it there). No foreign key to signals: the signals
-- table stays free of them (its insert is the receiver's hot path, and it is to be partitioned).
CREATE TABLE incident_signals (
    incident_id bigint NOT NULL REFERENCES incidents ON DELETE CASCADE,
    signal_id   bigint NOT NULL,
    received_at timestamptz NOT NULL,
    role        text NOT NULL CHECK (role IN ('opened', 'joined', 'restore')),
    PRIMARY KEY (incident_id, signal_id)
);
CREATE UNIQUE INDEX incident_signals_signal ON incident_signals (signal_id);

-- The audit trail: everything that happened to an incident, by whom (NULL: the system), in order. Append-only.
-- `customer_visible` marks what the customer's account of the incident shows (dispatches, the outcome).
CREATE TABLE incident_actions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id      bigint NOT NULL REFERENCES incidents ON DELETE CASCADE,
    at               timestamptz NOT NULL DEFAULT now(),
    user_id          bigint REFERENCES users ON DELETE SET NULL,
    user_name        text NOT NULL DEFAULT '',            -- as it was when written: the user may be removed later
    kind             text NOT NULL CHECK (kind IN ('opened', 'signal', 'restored', 'taken', 'taken_over',
                                                   'released', 'call', 'note', 'dispatch', 'hold', 'closed',
                                                   'attached', 'notified')),
    detail           jsonb NOT NULL DEFAULT '{}',
    customer_visible boolean NOT NULL DEFAULT false
);
CREATE INDEX incident_actions_incident ON incident_actions (incident_id, at, id);

-- Where a follower of the signals (shared.signal_cursor) has got to, written in the same transaction as what it
-- did with them: after a restart it resumes there, so no signal is missed or handled twice.
CREATE TABLE job_cursors (
    job        text PRIMARY KEY,
    xact       bigint NOT NULL,
    id         bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Supervision: a panel whose traffic stops for longer than its test interval (or its link supervision interval,
-- when it polls) plus a grace fails to communicate; communication_failed_at says since when, until it is heard.
ALTER TABLE panels ADD COLUMN supervision_interval interval CHECK (supervision_interval > interval '0');
ALTER TABLE panels ADD COLUMN communication_failed_at timestamptz;

-- "Put my system on test": signals from the premises are stored and shown, but open no incident, until ends_at
-- (or until ended early). The rows are the audit: who asked, when, for how long, who ended it.
CREATE TABLE system_tests (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id        bigint NOT NULL REFERENCES sites ON DELETE CASCADE,
    customer_id    bigint NOT NULL REFERENCES customers ON DELETE CASCADE,
    starts_at      timestamptz NOT NULL DEFAULT now(),
    ends_at        timestamptz NOT NULL,
    requested_by   bigint REFERENCES users ON DELETE SET NULL,
    requested_name text NOT NULL DEFAULT '',
    ended_at       timestamptz,                          -- ended early
    ended_by       bigint REFERENCES users ON DELETE SET NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX system_tests_site ON system_tests (site_id, ends_at DESC);
CREATE INDEX system_tests_customer ON system_tests (customer_id, starts_at DESC);

-- Alarm notifications: which of a customer's users are e-mailed on what.
CREATE TABLE alarm_notifications (
    user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    customer_id bigint NOT NULL REFERENCES customers ON DELETE CASCADE,
    category    text NOT NULL CHECK (category IN ('alarm', 'power', 'failure_to_communicate')),
    PRIMARY KEY (user_id, category)
);
CREATE INDEX alarm_notifications_customer ON alarm_notifications (customer_id, category);

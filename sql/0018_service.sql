-- The Service Center (SPEC C9-C12, S1): customers' requests and what staff did about them, service history,
-- insurance certificates, and each premises' call list with its verbal passcode and the audit of every change.

-- A general inquiry or a request for service. One staff member holds it at a time (holder_id, set by one UPDATE
-- that only succeeds while nobody holds it: the row lock decides between two takers).
CREATE TABLE service_requests (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id     bigint NOT NULL REFERENCES customers ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('inquiry', 'service')),
    topic           text NOT NULL CHECK (btrim(topic) <> ''),     -- the issue chosen from the configured list
    site_id         bigint REFERENCES sites ON DELETE SET NULL,    -- the premises (requests for service)
    contact_name    text NOT NULL CHECK (btrim(contact_name) <> ''),
    contact_email   text NOT NULL,
    contact_phone   text NOT NULL DEFAULT '',
    comments        text NOT NULL DEFAULT '',
    preferred_dates date[] NOT NULL DEFAULT '{}',                 -- requests for service: the days that suit
    preferred_time  text NOT NULL DEFAULT 'any' CHECK (preferred_time IN ('any', 'morning', 'afternoon')),
    status          text NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'answered', 'scheduled', 'completed', 'cancelled')),
    submitted_by    bigint REFERENCES users ON DELETE SET NULL,
    -- The form's one-time key: a double submit or a refresh of the confirmation stores one request.
    submission_key  text NOT NULL,
    -- Removing a staff login gives its requests back to the queue (taken_at then means nothing: no CHECK ties them).
    holder_id       bigint REFERENCES users ON DELETE SET NULL,
    taken_at        timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    closed_at       timestamptz,
    UNIQUE (customer_id, submission_key),
    CHECK ((status IN ('completed', 'cancelled')) = (closed_at IS NOT NULL))
);
CREATE INDEX service_requests_customer ON service_requests (customer_id, created_at DESC, id DESC);
-- The staff queue: open work by age.
CREATE INDEX service_requests_queue ON service_requests (created_at, id) WHERE closed_at IS NULL;

-- Everything that happened to a request, in order: submitted, taken, released, comments (for the customer or
-- internal), visits scheduled, completed, cancelled. Append-only.
CREATE TABLE service_request_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id  bigint NOT NULL REFERENCES service_requests ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    author_id   bigint REFERENCES users ON DELETE SET NULL,
    author_name text NOT NULL DEFAULT '',          -- as it was when written: the user may be removed later
    action      text NOT NULL CHECK (action IN
                    ('submitted', 'taken', 'released', 'comment', 'scheduled', 'completed', 'cancelled')),
    -- Internal notes are for staff only; everything else the customer sees.
    visibility  text NOT NULL DEFAULT 'customer' CHECK (visibility IN ('customer', 'internal')),
    body        text NOT NULL DEFAULT ''
);
CREATE INDEX service_request_events_request ON service_request_events (request_id, at, id);

-- A technician's visit booked for a request.
CREATE TABLE service_visits (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id    bigint NOT NULL REFERENCES service_requests ON DELETE CASCADE,
    technician    text NOT NULL CHECK (btrim(technician) <> ''),
    scheduled_for timestamptz NOT NULL,
    created_by    bigint REFERENCES users ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    cancelled_at  timestamptz
);
CREATE INDEX service_visits_request ON service_visits (request_id, scheduled_for);

-- The customer's service history (seed 000: "the service calls you've had and the services we performed"):
-- written when staff complete a request with the work performed.
CREATE TABLE service_history (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id    bigint NOT NULL REFERENCES customers ON DELETE CASCADE,
    request_id     bigint REFERENCES service_requests ON DELETE SET NULL,
    site_id        bigint REFERENCES sites ON DELETE SET NULL,
    performed_on   date NOT NULL,
    technician     text NOT NULL DEFAULT '',
    work_performed text NOT NULL CHECK (btrim(work_performed) <> ''),
    recorded_by    bigint REFERENCES users ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (request_id)
);
CREATE INDEX service_history_customer ON service_history (customer_id, performed_on DESC, id DESC);

-- An insurance certificate of alarm monitoring (C10), as issued: what it states is kept beside the PDF, so a past
-- certificate downloads unchanged and the public verification page (/verify/<code>) reads what was certified.
CREATE TABLE insurance_certificates (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id       bigint NOT NULL REFERENCES customers ON DELETE CASCADE,
    site_id           bigint REFERENCES sites ON DELETE SET NULL,
    -- Random, unguessable: the verification page answers only for a code that was issued.
    verification_code text NOT NULL UNIQUE,
    customer_name     text NOT NULL,
    premises_name     text NOT NULL,
    premises_address  text NOT NULL,
    accounts          text[] NOT NULL,
    services          text[] NOT NULL,
    monitoring_since  date NOT NULL,
    issued_at         timestamptz NOT NULL DEFAULT now(),
    valid_until       date NOT NULL,
    requested_by      bigint REFERENCES users ON DELETE SET NULL,
    revoked_at        timestamptz,
    pdf               bytea NOT NULL
);
CREATE INDEX insurance_certificates_customer ON insurance_certificates (customer_id, issued_at DESC, id DESC);

-- The call list (C12): per premises, the contacts called when the alarm goes off, in order.
CREATE TABLE call_list_contacts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers ON DELETE CASCADE,
    site_id     bigint NOT NULL REFERENCES sites ON DELETE CASCADE,
    position    integer NOT NULL CHECK (position > 0),
    name        text NOT NULL CHECK (btrim(name) <> ''),
    phone       text NOT NULL CHECK (btrim(phone) <> ''),
    phone_alt   text NOT NULL DEFAULT '',
    relation    text NOT NULL DEFAULT '',
    has_keys    boolean NOT NULL DEFAULT false,
    notes       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Deferred: a reorder moves several positions in one transaction.
    UNIQUE (site_id, position) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX call_list_contacts_customer ON call_list_contacts (customer_id);

-- The verbal passcode a dispatcher asks for, one per premises. Its own table, so that no query of sites can show
-- it by accident: only the owner's call-list page and staff pages read it. Secondary users never see it.
CREATE TABLE site_passcodes (
    site_id    bigint PRIMARY KEY REFERENCES sites ON DELETE CASCADE,
    passcode   text NOT NULL CHECK (btrim(passcode) <> ''),
    set_by     bigint REFERENCES users ON DELETE SET NULL,
    set_at     timestamptz NOT NULL DEFAULT now()
);

-- Every change to a call list: who, when, what, before and after (the passcode's value is never recorded, only
-- that it was set or cleared). Append-only; history outlives the contact.
CREATE TABLE call_list_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers ON DELETE CASCADE,
    site_id     bigint REFERENCES sites ON DELETE SET NULL,
    contact_id  bigint,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    changed_by  bigint REFERENCES users ON DELETE SET NULL,
    changed_by_name text NOT NULL DEFAULT '',
    action      text NOT NULL CHECK (action IN
                    ('added', 'edited', 'moved', 'removed', 'passcode_set', 'passcode_cleared')),
    before      jsonb,
    after       jsonb
);
CREATE INDEX call_list_changes_site ON call_list_changes (site_id, changed_at DESC, id DESC);

-- What each panel is enrolled to be monitored for (values of shared.catalogue.model.AlarmType): the insurance
-- certificate lists these together with the kinds of alarm the panel has actually sent.
ALTER TABLE panels ADD COLUMN monitored_services text[] NOT NULL DEFAULT '{}'
    CHECK (monitored_services <@ ARRAY['burglary', 'fire', 'panic', 'medical', 'duress', 'holdup', 'gas', 'co',
                                       'water', 'heat', 'freeze']::text[]);

-- The insurers' verification page counts failed lookups like registrations (portal/accounts/throttle.py): an
-- address that keeps trying codes that do not exist is refused for a while.
ALTER TABLE auth_failures DROP CONSTRAINT auth_failures_action_check;
ALTER TABLE auth_failures ADD CONSTRAINT auth_failures_action_check
    CHECK (action IN ('login', 'register', 'reset', 'verify'));

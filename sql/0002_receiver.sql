-- The receiver's own tables: rejected input (bounded, for diagnosis) and change notices for the account cache.

CREATE TABLE rejected_frames (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    transport   text NOT NULL CHECK (transport IN ('tcp', 'udp', 'mqtt')),
    remote_addr text NOT NULL DEFAULT '',
    reason      text NOT NULL,           -- a RejectReason value: crc, length, malformed, timestamp, ...
    detail      text NOT NULL DEFAULT '',
    account     text,                    -- when the header could still be read
    first_bytes bytea NOT NULL           -- the start of what was received, capped by the receiver
);
CREATE INDEX rejected_frames_received ON rejected_frames (received_at DESC);

-- Receivers keep every panel's account and key in memory; this tells them which account changed.
CREATE FUNCTION notify_panel_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('panels_changed', OLD.account);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('panels_changed', NEW.account);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER panels_changed
    AFTER INSERT OR DELETE OR UPDATE OF account, dc09_key, site_id, receiver, line ON panels
    FOR EACH ROW EXECUTE FUNCTION notify_panel_changed();

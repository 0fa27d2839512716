-- Each panel's last stored signal, kept on the panel instead of looked up in signals.
--
-- The dashboard shows it per panel. Looked up in signals it needed an index of its own on (account,
-- received_at), and every stored signal paid for that index: ~2-3.5 µs of PostgreSQL CPU per row, about a tenth of
-- the receiver's insert. The receiver writes this column in bulk after commit (with last_seen_at), only while the
-- panel is still on the site and the site with the customer the signal was stored for.
--
-- Upgrading a deployment whose parts run apart: restart the receivers on this version first (until the column
-- exists their housekeeping logs a warning each second and keeps the panels' times), then `alarmhub migrate`,
-- then restart the portals. A receiver of an older version never writes the column, and an older portal's query
-- would be slow without the index. (`alarmhub run` migrates at start and runs all parts of one version.)

ALTER TABLE panels ADD COLUMN last_signal_at timestamptz;

UPDATE panels p
   SET last_signal_at = (SELECT max(g.received_at)
                           FROM signals g JOIN sites s ON s.id = p.site_id
                          WHERE g.account = p.account AND g.panel_id = p.id AND g.site_id = p.site_id
                            AND g.customer_id = s.customer_id);

DROP INDEX signals_account_received;

-- A panel moved to another site, or given another account, starts without a last signal: what it sent before
-- belongs to whoever had it then.
CREATE FUNCTION panel_last_signal_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.last_signal_at := NULL;
    RETURN NEW;
END;
$$;

CREATE TRIGGER panel_last_signal_reset
    BEFORE UPDATE OF site_id, account ON panels
    FOR EACH ROW
    WHEN (OLD.site_id IS DISTINCT FROM NEW.site_id OR OLD.account IS DISTINCT FROM NEW.account)
    EXECUTE FUNCTION panel_last_signal_reset();

-- A site handed to another customer: its panels forget the previous customer's last signal, and every receiver
-- re-reads their accounts (it stamps each signal with the customer it resolved at receipt, so a stale cache would
-- file the new customer's signals under the old one until the periodic full reload).
CREATE FUNCTION site_customer_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE panels SET last_signal_at = NULL WHERE site_id = NEW.id;
    PERFORM pg_notify('panels_changed', account) FROM panels WHERE site_id = NEW.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER site_customer_changed
    AFTER UPDATE OF customer_id ON sites
    FOR EACH ROW
    WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id)
    EXECUTE FUNCTION site_customer_changed();

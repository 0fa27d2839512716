-- Rotating a panel's DC-09 key without refused messages: beside the current key (dc09_key), the one it replaced,
-- accepted until dc09_key_previous_until. A receiver opens a message with the current key and, only when that key
-- does not open it and the overlap lasts, with the previous one; it answers with the key that opened it. Set by
-- `alarmhub admin rotate-dc09-key` (shared/dc09_rotation.py). The previous key is a key like the current one: the
-- same sizes, kept in the same row, and only while a panel may still use it (the rotation forgets an expired one).
--
-- Two nullable columns without defaults and two CHECKs that hold for every existing row (both NULL): a catalogue
-- change, no rewrite. The trigger that tells receivers a panel changed (0002) now fires on the new columns too.
-- Upgrading: migrate, then restart the receivers; an older receiver ignores the previous key (it loads the columns
-- it names), so rotate no key until every receiver runs this version.
ALTER TABLE panels
    ADD COLUMN dc09_key_previous       bytea
        CHECK (dc09_key_previous IS NULL OR length(dc09_key_previous) IN (16, 24, 32)),
    ADD COLUMN dc09_key_previous_until timestamptz,
    ADD CONSTRAINT panels_dc09_key_previous_with_its_end_and_a_current_key
        CHECK ((dc09_key_previous IS NULL) = (dc09_key_previous_until IS NULL)
               AND (dc09_key_previous IS NULL OR dc09_key IS NOT NULL));

DROP TRIGGER panels_changed ON panels;
CREATE TRIGGER panels_changed
    AFTER INSERT OR DELETE OR UPDATE OF account, dc09_key, dc09_key_previous, dc09_key_previous_until, site_id,
        receiver, line ON panels
    FOR EACH ROW EXECUTE FUNCTION notify_panel_changed();

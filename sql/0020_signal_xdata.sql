-- x-data a dispatcher can use (issue 15): the typed content of a message's DC-09 extended data blocks, beside the
-- raw list that signals.extended keeps as sent.
--
-- signals.xdata is a JSON object built by receiver/signal_rows.row_xdata (decoder: receiver/dc09/xdata.py):
--   longitude, latitude   degrees as numbers, negative west / south ("[X115.500]", "[YS32.2]", "[X-1.5]")
--   altitude              metres, a number ("[Z12]", "[Z12.5m]")
--   mac                   the transmitter's MAC address, lower case with colons ("00:26:b9:e4:26:8b")
--   verification          an http(s) URL to audio or video of the event (any other scheme is not a link)
--   occurred_at           time of occurrence, ISO 8601: a UTC date-time ("2026-11-21T12:00:00+00:00") or a time
--                         of day ("12:00:00") when that is all the panel sent
--   text, location, room, site, building, network_address, supervision, path, trigger
--                         the texts of the I, L, R, S, O, N, C, J and T blocks, trimmed
--   unreadable            the elements that could not be read, as sent (a malformed element never rejects a frame)
--   time, date, peripheral
--                         the event's SIA-DCS ti ("HH:MM[:SS]"), da (ISO date) and pi modifiers
-- NULL when the message has no x-data and the event none of those modifiers.
--
-- Nullable, no default: adding the column is a catalogue change only, instant on a large table.
ALTER TABLE signals ADD COLUMN xdata jsonb;

COMMENT ON COLUMN signals.xdata IS
    'Typed DC-09 x-data (longitude, latitude, altitude, mac, verification, occurred_at, texts, unreadable) and the '
    'SIA ti/da/pi modifiers (time, date, peripheral); see sql/0020_signal_xdata.sql. NULL when none.';

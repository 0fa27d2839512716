-- A retransmission without a timestamp is stored once.
--
-- DC-09 makes the timestamp optional in plain messages, and many panels leave it out. The idempotency index
-- (0004) cannot merge such a message with its retransmission: panel_time is NULL, and NULLs never match. Nor may
-- it simply drop panel_time from its key: sequence numbers wrap after 9,999 messages and a restarted panel starts
-- again at 0001, so the same account, line, sequence and event come back as real, new signals.
--
-- The rule: a plain message without a timestamp is a retransmission when the LAST such message stored for the
-- same transmitter (account, receiver, line) had the same sequence number and the same content (the frame from
-- its CRC to the end of its body, as the panel built it: LF, CR and filler after it do not count) and arrived
-- within `receiver.retransmission_window` seconds of it. "Last" is what keeps real signals apart: a wrapped
-- sequence number or a restarted panel has sent other messages in between, so its reuse never matches. The one
-- limit: a panel that always sends the same sequence number (0000) and sends the same event twice within the
-- window has the second merged into the first.
--
-- This table holds that last message, one row per transmitter. The batch writer upserts it in the statement that
-- stores the signals (INSERT … ON CONFLICT DO UPDATE … WHERE it is not a repeat … RETURNING): a repeat updates
-- nothing and returns nothing, and its signals are not inserted. The upsert's row lock serialises two receivers
-- that take copies of one retransmission at once (the second sees the first's row once it has committed). Only
-- batches holding such a message pay for it; a batch never holds two messages of one transmitter. received_at is
-- the receiving receiver's clock, as in signals. The receiver's housekeeping deletes rows older than the window:
-- the table stays about as large as the number of panels sending untimed messages within one window.
--
-- Upgrading: migrate before receivers of this version start (older receivers do not touch the table). Without it, a
-- batch holding an untimed message fails and goes unacknowledged — panels retransmit — until the table exists.
--
-- Updates change no indexed column, so with room left on each page (fillfactor) they stay HOT: no index write.

CREATE TABLE untimed_transmissions (
    account        text        NOT NULL,  -- the header's account, upper case
    receiver       text        NOT NULL,  -- the header's receiver number; '' when it has none
    line           text        NOT NULL,  -- the header's line (account prefix); '' when it has none
    sequence       text        NOT NULL,  -- the last stored message's sequence number, as sent
    content_digest bytea       NOT NULL,  -- SHA-256 of its CRC, length and body
    received_at    timestamptz NOT NULL,  -- when it was received
    PRIMARY KEY (account, receiver, line)
) WITH (fillfactor = 70);

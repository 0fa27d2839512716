-- The idempotency key names the event as well as the transmission.
--
-- It was (account, receiver, line, sequence, panel_time, event_index): enough for panels that follow DC-09 and
-- give every new message the next sequence number. A panel that does not (a communicator that sends 0000 every
-- time, two panels programmed with the same account, a premises unit reset that starts again at 0001 within the
-- second) could send two different events with the same sequence in the same second: the second was ACKed and
-- dropped as a "retransmission". The event's code, qualifier, zone, partition and user now take part too, so only
-- a real retransmission (the same event again) meets the index.
--
-- zone, partition and user_number are NULL when the event has none, and NULLs never match in a unique index: the
-- key reads them through coalesce(…, '') so that a retransmitted opening (a user, no zone) is still stored once.
-- They come from the panel with no length limit, and a btree entry holds at most 2,704 bytes: the key takes
-- their first 64 characters (real ones have a handful), so no row can be too big for the index; two events that
-- differ only past the 64th character of such a field count as one. panel_time keeps its NULL: frames without a
-- timestamp are never merged, as before (sequence numbers wrap).
--
-- The new index is built under its own name before the old one goes, so the table is locked exclusively only for
-- the drop and rename at the end; the build itself holds off inserts (not reads) while it runs: on a large table,
-- run it in a quiet hour (receivers keep their frames unacknowledged meanwhile, and panels retransmit).
--
-- Upgrading receivers that run apart from `alarmhub migrate`: restart them on this version first. Their batch
-- writer reads the key's columns from this index when it connects (and reconnects after a failed batch), so it
-- works with the old index and the new one; an older receiver names the old key's columns and, after this
-- migration, fails every batch that holds a retransmission.
--
-- Cost, in isolation (3,000 batches of 50 rows, alternated runs): ≈ 0.3-0.9 µs of PostgreSQL CPU per row.

CREATE UNIQUE INDEX signals_idempotency_0004
    ON signals (account, receiver, line, sequence, panel_time, event_index, code, qualifier,
                (left(coalesce(zone, ''), 64)), (left(coalesce(partition, ''), 64)),
                (left(coalesce(user_number, ''), 64)));
DROP INDEX signals_idempotency;
ALTER INDEX signals_idempotency_0004 RENAME TO signals_idempotency;

-- The BRIN index on signals.received_at (0001) summarises new block ranges only when VACUUM gets to them, and an
-- unsummarised range is read whole by every scan that uses the index: the JSON API's newest page of signals
-- (portal/api/queries.py searches in widening received_at windows through this index) went from 1.4 ms to 33.6 ms
-- with 300,000 unsummarised rows at the table's end. With autosummarize, autovacuum summarises each block range as
-- soon as the next one is written to (as signals_xact has since 0012).
--
-- A storage parameter of the index only: a catalogue change, instant on a large table; no rewrite, no scan.
-- Upgrading: any order; receivers and portals of every version are unaffected.
ALTER INDEX signals_received SET (autosummarize = on);

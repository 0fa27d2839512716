-- Monthly partitions for signals, step 2 of 3: the rows already stored are checked against the bound 0023 set.
--
-- VALIDATE CONSTRAINT reads the whole table but takes only SHARE UPDATE EXCLUSIVE: receivers go on storing and
-- portals go on reading while it runs (on ten million signals, seconds to a minute). Alone in its migration, so
-- that no stronger lock is held while it reads. 0025 can then attach the table as a partition without reading it.

ALTER TABLE signals VALIDATE CONSTRAINT signals_before_partitions;

"""`alarmhub admin signal-partitions` as an operator runs it: the list, the coming months created, an old month
detached and a current one refused."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from shared.signal_partitions import month_starts
from tests.alarmhub.test_cli import alarmhub


async def test_the_partitions_listed_created_ahead_and_an_old_month_detached(database_url: str) -> None:
    listed = alarmhub(database_url, "admin", "signal-partitions")
    assert listed.returncode == 0, listed.stderr
    names = [line.split("\t")[0] for line in listed.stdout.splitlines()]
    assert names[0].startswith("signals_before_") and len(names) == 5
    assert "(everything before)" in listed.stdout.splitlines()[0]

    ensured = alarmhub(database_url, "admin", "signal-partitions", "--ensure")
    assert ensured.returncode == 0, ensured.stderr
    assert "created" not in ensured.stdout  # the migration made this month's and more: nothing missing

    this_month = month_starts(datetime.now(UTC), 0)[0]
    refused = alarmhub(database_url, "admin", "signal-partitions", "--detach-before", f"{this_month:%Y-%m}")
    assert refused.returncode == 0, refused.stderr  # this month's start: nothing ends by then, nothing current goes
    assert "no partition ends by then" in refused.stderr
    later = month_starts(datetime.now(UTC), 2)[2]
    current = alarmhub(database_url, "admin", "signal-partitions", "--detach-before", f"{later:%Y-%m}")
    assert current.returncode == 2 and "only past months can be detached" in current.stderr
    malformed = alarmhub(database_url, "admin", "signal-partitions", "--detach-before", "2026-13")
    assert malformed.returncode == 2 and "YYYY-MM" in malformed.stderr

    # A partition of a past month, as a database partitioned for a while has: detached, its rows kept apart.
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("CREATE TABLE signals_1999_01 (LIKE signals INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        first = names[0]
        await connection.execute(f'ALTER TABLE signals DETACH PARTITION "{first}"')
        await connection.execute(
            "ALTER TABLE signals ATTACH PARTITION signals_1999_01 FOR VALUES FROM ('1999-01-01') TO ('1999-02-01')"
        )
        await connection.execute(
            f"""ALTER TABLE signals ATTACH PARTITION "{first}" FOR VALUES FROM (MINVALUE) TO ('1999-01-01')"""
        )
    finally:
        await connection.close()
    detached = alarmhub(database_url, "admin", "signal-partitions", "--detach-before", "1999-02")
    assert detached.returncode == 0, detached.stderr
    assert f"detached {first}" in detached.stdout and "detached signals_1999_01" in detached.stdout
    assert not any(line.startswith(("signals_1999_01\t", f"{first}\t")) for line in detached.stdout.splitlines())

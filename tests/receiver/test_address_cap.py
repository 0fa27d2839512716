"""The per-address connection cap: one address cannot hold more than its share of the receiver's connections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from prometheus_client import REGISTRY

from receiver.service import receiver_pipeline, receiver_service
from receiver.transports.tcp import TcpLimits, _Connections, address_key, start_tcp_server
from tests.receiver.conftest import PLAIN_ACCOUNT, Panel, receiver_config
from tests.receiver.test_limits import closed_by_server
from tests.receiver.test_pipeline import cid
from tests.secrets_scan import debug_json_logs

REFUSED_LINE = "connection refused: too many connections from this address"
# Linux routes all of 127.0.0.0/8 to the loopback interface: a client bound to another of them is another address.
HOME, OTHER, THIRD = "127.0.0.1", "127.0.0.2", "127.0.0.3"


async def connect_from(source: str, address: tuple[str, int]) -> Panel:
    reader, writer = await asyncio.open_connection(*address, local_addr=(source, 0))
    return Panel(reader, writer)


async def acked(panel: Panel, sequence: int) -> bool:
    return (await panel.exchange(cid(PLAIN_ACCOUNT, sequence, 1, 602, 0))).kind == "ack"


def refused_total() -> float:
    return REGISTRY.get_sample_value("alarmhub_receiver_address_cap_refused_total") or 0.0


def limit_refused_total() -> float:
    return REGISTRY.get_sample_value("alarmhub_receiver_connection_limit_refused_total") or 0.0


def refusals_logged(logs: str) -> list[str]:
    """The address of each line logged for a connection refused at the cap."""
    lines = (json.loads(line) for line in logs.splitlines() if line.startswith("{"))
    return [line["address"] for line in lines if line.get("event") == REFUSED_LINE]


async def until(condition: Callable[[], bool], within: float = 3.0) -> None:
    """Wait for the server's side of a close (its connection_lost runs a moment after the client's close)."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - polling what the server's connection_lost recorded
            await asyncio.sleep(0.01)


async def test_past_the_cap_an_address_is_refused_while_its_open_connections_and_other_addresses_work(
    database_url: str, enrolled: object
) -> None:
    config = receiver_config(ALARMHUB_RECEIVER_MAX_CONNECTIONS_PER_ADDRESS="3")
    panels: list[Panel] = []
    async with receiver_service(config, database_url) as running:
        try:
            held = [await connect_from(HOME, running.tcp_address) for _ in range(3)]
            panels += held
            assert [await acked(panel, 10 + n) for n, panel in enumerate(held)] == [True] * 3
            before = refused_total()
            with debug_json_logs() as logs:
                refused = [await connect_from(HOME, running.tcp_address) for _ in range(3)]
                panels += refused
                for panel in refused:
                    assert await closed_by_server(panel, within=2.0)
            assert refused_total() == before + 3
            # One line for the flood, not one per connection (the default interval is a minute).
            assert refusals_logged(logs.getvalue()) == [HOME]
            assert [await acked(panel, 20 + n) for n, panel in enumerate(held)] == [True] * 3

            other = await connect_from(OTHER, running.tcp_address)
            panels.append(other)
            assert await acked(other, 30)  # another address is unaffected

            await held[0].close()  # one place comes free ...
            replacement = await connect_from(HOME, running.tcp_address)
            panels.append(replacement)
            assert await acked(replacement, 31)  # ... and is taken
            one_too_many = await connect_from(HOME, running.tcp_address)
            panels.append(one_too_many)
            assert await closed_by_server(one_too_many, within=2.0)  # and then the address is full again
            assert refused_total() == before + 4
        finally:
            for panel in panels:
                panel.writer.close()


async def test_a_cap_of_zero_is_no_cap(database_url: str, enrolled: object) -> None:
    config = receiver_config(ALARMHUB_RECEIVER_MAX_CONNECTIONS_PER_ADDRESS="0")
    async with receiver_service(config, database_url) as running:
        before = refused_total()
        panels = [await connect_from(HOME, running.tcp_address) for _ in range(12)]
        try:
            assert [await acked(panel, 40 + n) for n, panel in enumerate(panels)] == [True] * 12
        finally:
            for panel in panels:
                await panel.close()
    assert refused_total() == before


async def test_the_global_limit_still_holds_beside_the_cap(database_url: str, enrolled: object) -> None:
    config = receiver_config(ALARMHUB_RECEIVER_MAX_CONNECTIONS="3", ALARMHUB_RECEIVER_MAX_CONNECTIONS_PER_ADDRESS="2")
    panels: list[Panel] = []
    async with receiver_service(config, database_url) as running:
        try:
            home = [await connect_from(HOME, running.tcp_address) for _ in range(2)]
            other = await connect_from(OTHER, running.tcp_address)
            panels += [*home, other]
            assert [await acked(panel, 50 + n) for n, panel in enumerate(panels)] == [True] * 3
            before, limit_before = refused_total(), limit_refused_total()
            refused_by_limit = await connect_from(OTHER, running.tcp_address)  # under its cap, over the global limit
            panels.append(refused_by_limit)
            assert await closed_by_server(refused_by_limit, within=2.0)
            assert refused_total() == before  # the global limit's refusal is not the cap's
            assert limit_refused_total() == limit_before + 1  # it has its own counter

            await home[0].close()
            # The refused connection took no place of OTHER's: a second one from it fits under the cap of 2.
            second_other = await connect_from(OTHER, running.tcp_address)
            panels.append(second_other)
            assert await acked(second_other, 60)
        finally:
            for panel in panels:
                panel.writer.close()


async def test_each_address_is_counted_exactly_and_forgotten_at_zero(database_url: str, enrolled: object) -> None:
    """Closed by the panel, cut by the server (idle), refused at the cap or at the global limit: the count holds."""
    limits = TcpLimits(max_connections=4, max_connections_per_address=2, idle_timeout=1.0)
    async with receiver_pipeline(receiver_config(), database_url) as (ingestor, _, _):
        server = await start_tcp_server(ingestor, "127.0.0.1", 0, limits)
        panels: list[Panel] = []
        try:
            held = server.connections_per_address
            home = [await connect_from(HOME, server.address) for _ in range(2)]
            other = [await connect_from(OTHER, server.address) for _ in range(2)]
            panels += [*home, *other]
            assert [await acked(panel, 70 + n) for n, panel in enumerate(panels)] == [True] * 4
            assert dict(held) == {HOME: 2, OTHER: 2}

            over_cap = await connect_from(HOME, server.address)
            over_limit = await connect_from(THIRD, server.address)
            panels += [over_cap, over_limit]
            assert await closed_by_server(over_cap, within=2.0)
            assert await closed_by_server(over_limit, within=2.0)
            assert dict(held) == {HOME: 2, OTHER: 2}  # neither refusal was counted, nor their close

            await home[0].close()
            await until(lambda: held.get(HOME) == 1)
            await other[0].close()
            await other[1].close()
            await until(lambda: OTHER not in held)  # an address with no connection leaves the map

            assert await closed_by_server(home[1], within=3.0)  # cut by the server: idle
            await until(lambda: not held)

            again = [await connect_from(HOME, server.address) for _ in range(2)]
            panels += again
            assert [await acked(panel, 80 + n) for n, panel in enumerate(again)] == [True, True]
            assert dict(held) == {HOME: 2}
        finally:
            for panel in panels:
                panel.writer.close()
            await server.close()
        await until(lambda: not held)  # closing the server dropped every connection, and every count with it


async def test_a_refused_address_is_logged_once_an_interval_each(database_url: str, enrolled: object) -> None:
    interval = 1.5
    limits = TcpLimits(max_connections_per_address=1, address_cap_log_interval=interval)
    async with receiver_pipeline(receiver_config(), database_url) as (ingestor, _, _):
        server = await start_tcp_server(ingestor, "127.0.0.1", 0, limits)
        panels = [await connect_from(HOME, server.address), await connect_from(OTHER, server.address)]
        try:
            assert [await acked(panel, 90 + n) for n, panel in enumerate(panels)] == [True, True]

            async def refuse(source: str, times: int) -> None:
                for _ in range(times):
                    panel = await connect_from(source, server.address)
                    panels.append(panel)
                    assert await closed_by_server(panel, within=2.0)

            with debug_json_logs() as logs:
                await refuse(HOME, 5)
                await refuse(OTHER, 3)
                await refuse(HOME, 2)
                assert refusals_logged(logs.getvalue()) == [HOME, OTHER]  # once each in the interval
                await asyncio.sleep(interval + 0.1)
                await refuse(HOME, 3)
            assert refusals_logged(logs.getvalue()) == [HOME, OTHER, HOME]  # and again once the interval is past
        finally:
            for panel in panels:
                panel.writer.close()
            await server.close()


def test_the_addresses_remembered_for_the_log_stay_few_under_a_flood_of_addresses() -> None:
    """An attacker with many addresses (an IPv6 /64 holds 2^64) must not grow the log's memory without bound."""
    registry = _Connections(TcpLimits(address_cap_log_interval=60.0))
    largest = 0
    for second in range(600):  # ten minutes, 100 new addresses refused each second
        for n in range(100):
            registry.refused_at_address_cap(f"2001:db8::{second:x}:{n:x}", float(second))
        largest = max(largest, len(registry._logged))
    # The map follows the addresses of the last minute (6,000), at most doubled: never the 60,000 seen in all.
    assert largest <= 2 * 6_100


def test_an_ipv6_host_is_counted_by_its_64_and_a_mapped_ipv4_address_as_itself() -> None:
    # One host or subscriber line normally holds a whole /64: counted by full address, one host could open
    # receiver.max_connections from as many addresses of it.
    assert address_key("2001:db8:0:1::1") == address_key("2001:db8:0:1::3e8") == "2001:db8:0:1::/64"
    assert address_key("2001:db8:0:2::1") != address_key("2001:db8:0:1::1")
    assert address_key("::ffff:10.1.2.3") == address_key("10.1.2.3") == "10.1.2.3"
    assert address_key("fe80::1%eth0") == "fe80::/64"


async def test_refusals_at_the_global_limit_are_counted_each_and_logged_once_an_interval(
    database_url: str, enrolled: object
) -> None:
    config = receiver_config(ALARMHUB_RECEIVER_MAX_CONNECTIONS="1")
    with debug_json_logs() as logs:
        async with receiver_service(config, database_url) as running:
            first = await connect_from(HOME, running.tcp_address)
            panels = [first]
            try:
                assert await acked(first, 70)
                before = limit_refused_total()
                for _ in range(20):
                    refused = await connect_from(OTHER, running.tcp_address)
                    panels.append(refused)
                    assert await closed_by_server(refused, within=2.0)
                assert limit_refused_total() == before + 20
            finally:
                for panel in panels:
                    panel.writer.close()
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines].count("connection refused: too many connections") == 1

"""The services a premises is monitored for: enrolled and seen, in an insurer's words, in a fixed order."""

from __future__ import annotations

import asyncpg

from shared.certificates.services import SERVICES, monitored_services, services_in_words
from shared.enrolment import MONITORED_SERVICES
from tests.shared.certificates.setup import alarm, enrol, second_premises


def test_words_come_in_the_certificates_order_each_once() -> None:
    assert services_in_words(["freeze", "fire", "holdup", "burglary", "panic", "heat"]) == [
        "Burglary / intrusion",
        "Fire",
        "Panic / duress / hold-up",
        "Temperature (heat/freeze)",
    ]
    assert services_in_words(["co", "medical", "water", "gas"]) == [
        "Medical emergency",
        "Carbon monoxide / gas",
        "Water / flood",
    ]
    assert services_in_words(["tamper", "emergency", "other"]) == []  # kinds of alarm, not insured services


def test_every_enrollable_service_names_a_certified_one() -> None:
    for value in MONITORED_SERVICES:
        assert len(services_in_words([value])) == 1, value
    assert list(SERVICES) == [
        "Burglary / intrusion",
        "Fire",
        "Medical emergency",
        "Panic / duress / hold-up",
        "Carbon monoxide / gas",
        "Water / flood",
        "Temperature (heat/freeze)",
    ]


async def test_enrolled_and_seen_together_only_of_this_premises(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        home = await enrol(connection, "home", "A1A1", services=("burglary", "co"))
        other = await enrol(connection, "other", "B2B2", services=("medical",))
        shed_site, shed_panel = await second_premises(connection, home, "Shed", "C3C3", services=("water",))
        await alarm(connection, home, "fire")
        await alarm(connection, home, "holdup")
        await alarm(connection, home, "fire")
        await alarm(connection, home, "tamper")  # certifies nothing
        await alarm(connection, home, "heat", category="trouble")  # a trouble is no alarm
        await alarm(connection, home, None)
        await alarm(connection, home, "freeze", site_id=shed_site, panel_id=shed_panel, account="C3C3")
        await alarm(connection, other, "panic")

        found = await monitored_services(connection, home.scope, home.site_id)
        shed = await monitored_services(connection, home.scope, shed_site)
        foreign = await monitored_services(connection, other.scope, home.site_id)

    assert found.enrolled == {"burglary", "co"}
    assert found.seen == {"fire", "holdup"}
    assert found.words == ["Burglary / intrusion", "Fire", "Panic / duress / hold-up", "Carbon monoxide / gas"]
    assert shed.words == ["Water / flood", "Temperature (heat/freeze)"]
    assert foreign.enrolled == frozenset() and foreign.seen == frozenset()  # another customer's premises: nothing

"""The services a premises is monitored for, in an insurer's words: what its panels are enrolled for, together with
the kinds of alarm they have actually sent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from shared.catalogue.model import AlarmType
from shared.db import Connection
from shared.scope import CustomerScope

# Each service as an insurance form names it, in the order a certificate lists them, with the kinds of alarm
# (shared.catalogue.model.AlarmType) that stand for it. Tamper, "emergency" and "other" certify nothing an insurer
# asks about, so they name no service.
SERVICES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "Burglary / intrusion": frozenset({AlarmType.BURGLARY}),
        "Fire": frozenset({AlarmType.FIRE}),
        "Medical emergency": frozenset({AlarmType.MEDICAL}),
        "Panic / duress / hold-up": frozenset({AlarmType.PANIC, AlarmType.DURESS, AlarmType.HOLDUP}),
        "Carbon monoxide / gas": frozenset({AlarmType.CO, AlarmType.GAS}),
        "Water / flood": frozenset({AlarmType.WATER}),
        "Temperature (heat/freeze)": frozenset({AlarmType.HEAT, AlarmType.FREEZE}),
    }
)
CERTIFIED_ALARM_TYPES: Final[frozenset[str]] = frozenset().union(*SERVICES.values())


@dataclass(frozen=True, slots=True)
class MonitoredServices:
    """The alarm kinds the premises' panels are enrolled for and those they have sent, and what that certifies."""

    enrolled: frozenset[str]
    seen: frozenset[str]

    @property
    def words(self) -> list[str]:
        return services_in_words(self.enrolled | self.seen)


def services_in_words(alarm_types: Iterable[str]) -> list[str]:
    """The services that `alarm_types` stand for, each once, in the certificate's order."""
    kinds = set(alarm_types)
    return [service for service, stands_for in SERVICES.items() if kinds & stands_for]


# Both halves in one statement. The signals half reads the customer's rows through signals_customer_received
# (customer_id leads it; no index starts with site_id), so it touches one customer's history, never the table;
# DISTINCT leaves at most a dozen rows. Only alarm kinds that certify something are asked for.
_SERVICES = """
    SELECT 'enrolled' AS source, service AS alarm_type
      FROM (SELECT DISTINCT unnest(p.monitored_services) AS service
              FROM panels p JOIN sites s ON s.id = p.site_id
             WHERE p.site_id = $2 AND s.customer_id = $1) enrolled
    UNION ALL
    SELECT 'seen', alarm_type
      FROM (SELECT DISTINCT alarm_type
              FROM signals
             WHERE customer_id = $1 AND site_id = $2 AND category = 'alarm' AND alarm_type = any($3::text[])) seen
"""


async def monitored_services(connection: Connection, scope: CustomerScope, site_id: int) -> MonitoredServices:
    """What the scope's premises `site_id` is monitored for (nothing for a premises of another customer)."""
    rows = await connection.fetch(_SERVICES, scope.customer_id, site_id, sorted(CERTIFIED_ALARM_TYPES))
    return MonitoredServices(
        enrolled=frozenset(row["alarm_type"] for row in rows if row["source"] == "enrolled"),
        seen=frozenset(row["alarm_type"] for row in rows if row["source"] == "seen"),
    )

"""The opener's rules, table-driven: which signal opens, joins, restores or mails what (pure, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.incidents.model import IncidentKind, NotificationCategory
from shared.incidents.priority import PrioritySettings
from shared.incidents.rules import Act, Member, Signal, all_restored, decide, joined_kind, opening_mail

AT = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
BURGLARY = Signal(
    id=1,
    account="A1A1",
    panel_id=10,
    site_id=20,
    customer_id=30,
    transport="tcp",
    format="ADM-CID",
    code="130",
    qualifier="event",
    zone="001",
    category="alarm",
    alarm_type="burglary",
    priority=3,
    description="Burglary alarm",
    received_at=AT,
)
FIRE = replace(BURGLARY, code="110", alarm_type="fire", priority=1, description="Fire alarm")
POWER = replace(BURGLARY, code="301", category="power", alarm_type=None, priority=5, description="AC power loss")
TROUBLE = replace(BURGLARY, code="300", category="trouble", alarm_type=None, priority=5, description="System trouble")
OPENING = replace(BURGLARY, code="401", category="open_close", alarm_type=None, priority=9, description="Opening")
FTC = replace(
    BURGLARY,
    transport="supervision",
    code="354",
    category="trouble",
    alarm_type=None,
    priority=5,
    zone=None,
    description="Failure to communicate event",
)
UNKNOWN = replace(BURGLARY, panel_id=None, site_id=None, customer_id=None, account="FFFF")
SETTINGS = PrioritySettings(overrides={"burglary": 2}, failure=6, unknown=4)

CASES = [
    # (name, signal, on_test, act, kind, key, priority, mail)
    ("alarm event", BURGLARY, False, Act.OPEN_OR_JOIN, IncidentKind.ALARM, "site:20", 2, None),
    ("alarm status report", replace(BURGLARY, qualifier="status"), False, Act.OPEN_OR_JOIN, IncidentKind.ALARM,
     "site:20", 2, None),
    ("fire keeps the catalogue's", FIRE, False, Act.OPEN_OR_JOIN, IncidentKind.ALARM, "site:20", 1, None),
    ("alarm restore", replace(BURGLARY, qualifier="restore"), False, Act.ATTACH_RESTORE, IncidentKind.ALARM,
     "site:20", None, None),
    ("alarm on test", BURGLARY, True, Act.NOTHING, None, None, None, None),
    ("restore on test still attaches", replace(BURGLARY, qualifier="restore"), True, Act.ATTACH_RESTORE,
     IncidentKind.ALARM, "site:20", None, None),
    ("failure to communicate", FTC, False, Act.OPEN_OR_JOIN, IncidentKind.FAILURE_TO_COMMUNICATE, "site:20", 6, None),
    ("its restore", replace(FTC, qualifier="restore"), False, Act.ATTACH_RESTORE,
     IncidentKind.FAILURE_TO_COMMUNICATE, "site:20", None, None),
    ("a panel's own 354 is trouble", replace(FTC, transport="tcp"), False, Act.NOTHING, None, None, None, None),
    ("failure on test", FTC, True, Act.NOTHING, None, None, None, None),
    ("power event mails", POWER, False, Act.NOTHING, None, "site:20", None, NotificationCategory.POWER),
    ("power restore", replace(POWER, qualifier="restore"), False, Act.NOTHING, None, None, None, None),
    ("power on test", POWER, True, Act.NOTHING, None, None, None, None),
    ("trouble", TROUBLE, False, Act.NOTHING, None, None, None, None),
    ("opening", OPENING, False, Act.NOTHING, None, None, None, None),
    ("unknown account alarm", UNKNOWN, False, Act.OPEN_OR_JOIN, IncidentKind.UNKNOWN_ACCOUNT, "account:FFFF", 4,
     None),
    ("unknown account, any category", replace(UNKNOWN, category="open_close", code="401"), False, Act.OPEN_OR_JOIN,
     IncidentKind.UNKNOWN_ACCOUNT, "account:FFFF", 4, None),
    ("unknown account restore", replace(UNKNOWN, qualifier="restore"), False, Act.OPEN_OR_JOIN,
     IncidentKind.UNKNOWN_ACCOUNT, "account:FFFF", 4, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("signal", "on_test", "act", "kind", "key", "priority", "mail"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decide(
    signal: Signal,
    on_test: bool,
    act: Act,
    kind: IncidentKind | None,
    key: str | None,
    priority: int | None,
    mail: NotificationCategory | None,
) -> None:
    decision = decide(signal, on_test=on_test, settings=SETTINGS)
    assert (decision.act, decision.kind, decision.premises_key, decision.priority, decision.mail) == (
        act,
        kind,
        key,
        priority,
        mail,
    )


def test_only_decisions_on_a_known_premises_ask_whether_it_is_on_test() -> None:
    assert decide(BURGLARY).needs_premises and decide(FTC).needs_premises and decide(POWER).needs_premises
    assert not decide(UNKNOWN).needs_premises
    assert not decide(replace(BURGLARY, qualifier="restore")).needs_premises
    assert not decide(TROUBLE).needs_premises


def test_without_overrides_the_stored_priority_counts() -> None:
    assert decide(BURGLARY).priority == 3
    assert decide(FTC).priority == 5 and decide(UNKNOWN).priority == 4


def test_kinds_and_their_mails() -> None:
    assert joined_kind(IncidentKind.FAILURE_TO_COMMUNICATE, IncidentKind.ALARM) is IncidentKind.ALARM
    assert joined_kind(IncidentKind.ALARM, IncidentKind.FAILURE_TO_COMMUNICATE) is IncidentKind.ALARM
    assert joined_kind(IncidentKind.UNKNOWN_ACCOUNT, IncidentKind.UNKNOWN_ACCOUNT) is IncidentKind.UNKNOWN_ACCOUNT
    assert opening_mail(IncidentKind.ALARM) is NotificationCategory.ALARM
    assert opening_mail(IncidentKind.FAILURE_TO_COMMUNICATE) is NotificationCategory.FAILURE_TO_COMMUNICATE
    assert opening_mail(IncidentKind.UNKNOWN_ACCOUNT) is None


def _member(
    id: int, code: str, qualifier: str, zone: str | None = "001", minutes: int = 0, fmt: str = "ADM-CID"
) -> Member:
    return Member(id, fmt, code, qualifier, zone, AT + timedelta(minutes=minutes))


RESTORE_CASES = [
    ("one event, no restore", [_member(1, "130", "event")], False),
    ("restored", [_member(1, "130", "event"), _member(2, "130", "restore", minutes=1)], True),
    ("another zone's restore", [_member(1, "130", "event"), _member(2, "130", "restore", "002", 1)], False),
    (
        "another panel's restore (a premises with two panels)",
        [_member(1, "130", "event"), replace(_member(2, "130", "restore", minutes=1), account="B2B2")],
        False,
    ),
    ("another code's restore", [_member(1, "130", "event"), _member(2, "110", "restore", minutes=1)], False),
    ("a restore before the event", [_member(2, "130", "restore"), _member(3, "130", "event", minutes=1)], False),
    (
        "two events, one restored",
        [_member(1, "130", "event"), _member(2, "110", "event"), _member(3, "130", "restore", minutes=1)],
        False,
    ),
    ("failure to communicate", [_member(1, "354", "event", None), _member(2, "354", "restore", None, 5)], True),
    ("SIA burglary restored by BR", [_member(1, "BA", "event", fmt="SIA-DCS"), _member(2, "BR", "restore", minutes=1,
                                                                                     fmt="SIA-DCS")], True),
    ("only restores", [_member(1, "130", "restore")], False),
]  # fmt: skip


@pytest.mark.parametrize(("members", "restored"), [c[1:] for c in RESTORE_CASES], ids=[c[0] for c in RESTORE_CASES])
def test_all_restored(members: list[Member], restored: bool) -> None:
    assert all_restored(members) is restored

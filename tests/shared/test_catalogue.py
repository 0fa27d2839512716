"""Tests the event catalogue's facts and the classification of decoded Contact ID and SIA DCS events."""

import dataclasses
import itertools
from collections import Counter

import pytest

from shared.catalogue import (
    CONTACT_ID,
    PRIORITY_LOWEST,
    SIA_DCS,
    AlarmType,
    Classification,
    Qualifier,
    SignalCategory,
    categories,
    classify,
    entries,
    lookup,
)

LIFE_SAFETY = {
    AlarmType.FIRE,
    AlarmType.PANIC,
    AlarmType.MEDICAL,
    AlarmType.DURESS,
    AlarmType.HOLDUP,
    AlarmType.EMERGENCY,
}


def test_the_catalogue_holds_the_standard_code_lists() -> None:
    assert len(entries(CONTACT_ID)) >= 150
    assert len(entries(SIA_DCS)) >= 100
    assert entries() == entries(CONTACT_ID) + entries(SIA_DCS)


@pytest.mark.parametrize("format", [CONTACT_ID, SIA_DCS])
def test_codes_are_unique_and_well_formed(format: str) -> None:
    codes = Counter(entry.code for entry in entries(format))
    assert [code for code, count in codes.items() if count > 1] == []
    width, allowed = (3, str.isdigit) if format == CONTACT_ID else (2, str.isupper)
    assert all(len(code) == width and allowed(code) for code in codes)
    assert all(entry.format == format for entry in entries(format))


def test_only_alarm_codes_have_an_alarm_type() -> None:
    for entry in entries():
        assert (entry.alarm_type is not None) == (entry.category is SignalCategory.ALARM), entry


def test_contact_id_restores_are_qualifier_3_of_the_same_code() -> None:
    for entry in entries(CONTACT_ID):
        assert not entry.is_restore and entry.restores is None
        assert entry.restored_by in (None, entry.code)
        if entry.restored_by is not None:
            assert entry.restore_text and entry.category is not SignalCategory.OPEN_CLOSE


def test_sia_restore_pairs_point_at_existing_codes_and_back() -> None:
    by_code = {entry.code: entry for entry in entries(SIA_DCS)}
    for entry in by_code.values():
        if entry.restored_by is not None:
            restore = by_code[entry.restored_by]
            assert restore.is_restore and restore.restores == entry.code
        if entry.is_restore:
            assert entry.restores is not None and entry.restored_by is None
            target = by_code[entry.restores]
            assert not target.is_restore and target.restored_by is not None
            assert by_code[target.restored_by].restores == target.code
            assert (target.category, target.alarm_type) == (entry.category, entry.alarm_type)
    pairs = {(code, entry.restored_by) for code, entry in by_code.items() if entry.restored_by}
    assert {("BA", "BR"), ("FA", "FR"), ("AT", "AR"), ("YT", "YR"), ("BB", "BU"), ("YC", "YK")} <= pairs


def test_burglary_alarm_ranks_below_fire() -> None:
    burglary = classify(CONTACT_ID, "130", "1")
    fire = classify(CONTACT_ID, "110", "1")
    assert (burglary.category, burglary.alarm_type, burglary.known) == (
        SignalCategory.ALARM,
        AlarmType.BURGLARY,
        True,
    )
    assert fire.alarm_type is AlarmType.FIRE
    assert fire.priority < burglary.priority


def test_ac_power_loss_and_restore_are_power() -> None:
    loss = classify(CONTACT_ID, "301", "1")
    restore = classify(CONTACT_ID, "301", "3")
    assert (loss.category, loss.text, loss.qualifier) == (SignalCategory.POWER, "AC power loss", Qualifier.EVENT)
    assert (restore.category, restore.text, restore.qualifier) == (
        SignalCategory.POWER,
        "AC power restored",
        Qualifier.RESTORE,
    )
    assert restore.restores == "301" and loss.restores is None
    assert classify(CONTACT_ID, "302").category is SignalCategory.POWER
    assert classify(CONTACT_ID, "302", "3").text == "System battery restored"


def test_tests_are_test() -> None:
    for code in ("601", "602", "603", "607", "608"):
        assert classify(CONTACT_ID, code).category is SignalCategory.TEST, code
    for code in ("RP", "RX", "TX"):
        assert classify(SIA_DCS, code).category is SignalCategory.TEST, code
    assert classify(CONTACT_ID, "602").text == "Periodic test report"


def test_open_close_qualifier_1_opens_and_3_closes_by_user_number() -> None:
    opening = classify(CONTACT_ID, "401", "1")
    closing = classify(CONTACT_ID, "401", Qualifier.RESTORE)
    assert (opening.text, opening.qualifier) == ("Opening by user", Qualifier.EVENT)
    assert (closing.text, closing.qualifier) == ("Closing by user", Qualifier.RESTORE)
    for result in (opening, closing):
        assert result.category is SignalCategory.OPEN_CLOSE
        assert result.field == "user" and result.restores is None
    assert classify(CONTACT_ID, "441", "3").text == "Armed stay"
    assert lookup(CONTACT_ID, "401") is not None and lookup(CONTACT_ID, "401").field == "user"  # type: ignore[union-attr]


def test_duress_is_a_life_safety_alarm_with_a_user_number() -> None:
    duress = classify(CONTACT_ID, "121")
    assert (duress.category, duress.alarm_type, duress.field) == (SignalCategory.ALARM, AlarmType.DURESS, "user")
    assert duress.priority == 1
    assert classify(CONTACT_ID, "130").field == "zone"


@pytest.mark.parametrize(
    ("code", "alarm_type"),
    [
        ("100", AlarmType.MEDICAL),
        ("111", AlarmType.FIRE),
        ("120", AlarmType.PANIC),
        ("122", AlarmType.PANIC),
        ("124", AlarmType.DURESS),
        ("129", AlarmType.HOLDUP),
        ("131", AlarmType.BURGLARY),
        ("137", AlarmType.TAMPER),
        ("151", AlarmType.GAS),
        ("154", AlarmType.WATER),
        ("158", AlarmType.HEAT),
        ("159", AlarmType.FREEZE),
        ("162", AlarmType.CO),
    ],
)
def test_contact_id_alarm_subtypes(code: str, alarm_type: AlarmType) -> None:
    result = classify(CONTACT_ID, code)
    assert (result.category, result.alarm_type) == (SignalCategory.ALARM, alarm_type)


@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("200", SignalCategory.SUPERVISORY),
        ("350", SignalCategory.TROUBLE),
        ("373", SignalCategory.TROUBLE),
        ("381", SignalCategory.SUPERVISORY),
        ("384", SignalCategory.POWER),
        ("570", SignalCategory.BYPASS),
        ("627", SignalCategory.OTHER),
    ],
)
def test_contact_id_non_alarm_categories(code: str, category: SignalCategory) -> None:
    assert classify(CONTACT_ID, code).category is category


def test_contact_id_qualifier_6_is_a_status_report() -> None:
    status = classify(CONTACT_ID, "301", "6")
    assert (status.qualifier, status.category, status.restores) == (Qualifier.STATUS, SignalCategory.POWER, None)
    assert status.text == "AC power loss — still present"


@pytest.mark.parametrize(
    ("code", "category", "alarm_type", "qualifier", "restores"),
    [
        ("BA", SignalCategory.ALARM, AlarmType.BURGLARY, Qualifier.EVENT, None),
        ("BR", SignalCategory.ALARM, AlarmType.BURGLARY, Qualifier.RESTORE, "BA"),
        ("FA", SignalCategory.ALARM, AlarmType.FIRE, Qualifier.EVENT, None),
        ("PA", SignalCategory.ALARM, AlarmType.PANIC, Qualifier.EVENT, None),
        ("HA", SignalCategory.ALARM, AlarmType.HOLDUP, Qualifier.EVENT, None),
        ("MA", SignalCategory.ALARM, AlarmType.MEDICAL, Qualifier.EVENT, None),
        ("GA", SignalCategory.ALARM, AlarmType.GAS, Qualifier.EVENT, None),
        ("WA", SignalCategory.ALARM, AlarmType.WATER, Qualifier.EVENT, None),
        ("KA", SignalCategory.ALARM, AlarmType.HEAT, Qualifier.EVENT, None),
        ("ZA", SignalCategory.ALARM, AlarmType.FREEZE, Qualifier.EVENT, None),
        ("QA", SignalCategory.ALARM, AlarmType.EMERGENCY, Qualifier.EVENT, None),
        ("TA", SignalCategory.ALARM, AlarmType.TAMPER, Qualifier.EVENT, None),
        ("AT", SignalCategory.POWER, None, Qualifier.EVENT, None),
        ("AR", SignalCategory.POWER, None, Qualifier.RESTORE, "AT"),
        ("YT", SignalCategory.POWER, None, Qualifier.EVENT, None),
        ("YR", SignalCategory.POWER, None, Qualifier.RESTORE, "YT"),
        ("BT", SignalCategory.TROUBLE, None, Qualifier.EVENT, None),
        ("BJ", SignalCategory.TROUBLE, None, Qualifier.RESTORE, "BT"),
        ("BB", SignalCategory.BYPASS, None, Qualifier.EVENT, None),
        ("BU", SignalCategory.BYPASS, None, Qualifier.RESTORE, "BB"),
        ("YC", SignalCategory.TROUBLE, None, Qualifier.EVENT, None),
        ("YK", SignalCategory.TROUBLE, None, Qualifier.RESTORE, "YC"),
        ("OP", SignalCategory.OPEN_CLOSE, None, Qualifier.EVENT, None),
        ("CL", SignalCategory.OPEN_CLOSE, None, Qualifier.EVENT, None),
        ("RP", SignalCategory.TEST, None, Qualifier.EVENT, None),
    ],
)
def test_sia_codes_classify(
    code: str,
    category: SignalCategory,
    alarm_type: AlarmType | None,
    qualifier: Qualifier,
    restores: str | None,
) -> None:
    result = classify(SIA_DCS, code)
    assert (result.category, result.alarm_type, result.qualifier, result.restores, result.known) == (
        category,
        alarm_type,
        qualifier,
        restores,
        True,
    )


def test_sia_texts_and_fields() -> None:
    assert classify(SIA_DCS, "OP").text == "Opening by user" and classify(SIA_DCS, "OP").field == "user"
    assert classify(SIA_DCS, "CL").text == "Closing by user" and classify(SIA_DCS, "CL").field == "user"
    assert classify(SIA_DCS, "AT").text == "AC power loss"
    assert classify(SIA_DCS, "BA").field == "zone"


def test_sia_ignores_a_caller_qualifier_the_code_decides() -> None:
    assert classify(SIA_DCS, "BR", Qualifier.EVENT).qualifier is Qualifier.RESTORE
    assert classify(SIA_DCS, "BA", "3").qualifier is Qualifier.EVENT


def test_priorities_follow_the_dispatch_order() -> None:
    """Life safety, then gas/CO, burglary, other alarms, trouble/power/supervisory, then the rest."""

    def tier(category: SignalCategory, alarm_type: AlarmType | None) -> int:
        if alarm_type in LIFE_SAFETY:
            return 0
        if alarm_type in {AlarmType.GAS, AlarmType.CO}:
            return 1
        if alarm_type is AlarmType.BURGLARY:
            return 2
        if category is SignalCategory.ALARM:
            return 3
        if category in {SignalCategory.TROUBLE, SignalCategory.POWER, SignalCategory.SUPERVISORY}:
            return 4
        return 5

    by_tier: dict[int, set[int]] = {}
    for entry in entries():
        assert entry.priority >= 1
        by_tier.setdefault(tier(entry.category, entry.alarm_type), set()).add(entry.priority)
    assert sorted(by_tier) == [0, 1, 2, 3, 4, 5]
    for higher, lower in itertools.pairwise(by_tier[index] for index in sorted(by_tier)):
        assert max(higher) < min(lower)
    assert by_tier[0] == {1}
    assert max(entry.priority for entry in entries()) == PRIORITY_LOWEST


def test_gas_and_co_rank_between_life_safety_and_burglary() -> None:
    fire, co, gas, burglary, water = (
        classify(CONTACT_ID, code).priority for code in ("110", "162", "151", "130", "154")
    )
    assert fire < co == gas < burglary < water
    assert classify(CONTACT_ID, "301").priority < classify(CONTACT_ID, "401").priority
    assert burglary < classify(CONTACT_ID, "300").priority


@pytest.mark.parametrize(
    ("format", "code", "text"),
    [
        (CONTACT_ID, "999", "Unknown Contact ID event 999"),
        (CONTACT_ID, "1", "Unknown Contact ID event 1"),
        (SIA_DCS, "ZQ", "Unknown SIA DCS event ZQ"),
        (SIA_DCS, "B", "Unknown SIA DCS event B"),
        ("SIA-XYZ", "BA", "Unknown SIA-XYZ event BA"),
    ],
)
def test_unknown_codes_are_other(format: str, code: str, text: str) -> None:
    result = classify(format, code)
    assert (result.category, result.known, result.text, result.alarm_type, result.restores) == (
        SignalCategory.OTHER,
        False,
        text,
        None,
        None,
    )
    assert result.priority == PRIORITY_LOWEST


@pytest.mark.parametrize(
    "garbage",
    ["", " ", "13O", "1300000000", "\x00\x01", "é∂", "B A", "../../etc", None, 130, b"130", ["130"], {"a": 1}],
)
def test_malformed_input_never_raises(garbage: object) -> None:
    for format in (CONTACT_ID, SIA_DCS, "", None, 7):
        for qualifier in (None, "1", "9", ["x"], 3):
            result = classify(format, garbage, qualifier)  # type: ignore[arg-type]
            assert isinstance(result, Classification)
            assert result.known is False and result.category is SignalCategory.OTHER
            assert result.text.isprintable() and len(result.text) < 60


def test_an_unknown_qualifier_digit_counts_as_an_event() -> None:
    assert classify(CONTACT_ID, "130", "9").qualifier is Qualifier.EVENT
    assert classify(CONTACT_ID, "999", "3").qualifier is Qualifier.RESTORE


@pytest.mark.parametrize(
    ("qualifier", "expected"),
    [
        (None, Qualifier.EVENT),
        ("1", Qualifier.EVENT),
        ("E", Qualifier.EVENT),
        ("event", Qualifier.EVENT),
        (Qualifier.RESTORE, Qualifier.RESTORE),
        ("3", Qualifier.RESTORE),
        ("R", Qualifier.RESTORE),
        ("RESTORE", Qualifier.RESTORE),
        (" 3 ", Qualifier.RESTORE),
        ("6", Qualifier.STATUS),
        ("status", Qualifier.STATUS),
        (3, Qualifier.RESTORE),
        (6, Qualifier.STATUS),
    ],
)
def test_qualifier_spellings(qualifier: str | int | None, expected: Qualifier) -> None:
    assert classify(CONTACT_ID, "130", qualifier).qualifier is expected  # type: ignore[arg-type]


def test_contact_id_code_spellings_with_the_qualifier_in_front() -> None:
    assert classify(CONTACT_ID, "E130") == classify(CONTACT_ID, "130")
    assert classify(CONTACT_ID, "R301") == classify(CONTACT_ID, "301", "3")
    assert classify(CONTACT_ID, "3301") == classify(CONTACT_ID, "301", "3")
    assert classify(CONTACT_ID, "R301", "1") == classify(CONTACT_ID, "301", "1")
    assert classify(" adm-cid ", " 130 ") == classify(CONTACT_ID, "130")
    assert classify(SIA_DCS, " ba") == classify(SIA_DCS, "BA")


def test_results_are_prebuilt_and_frozen() -> None:
    first = classify(CONTACT_ID, "130", "1")
    assert classify(CONTACT_ID, "130", Qualifier.EVENT) is first
    assert classify(CONTACT_ID, "130") is first
    assert classify(SIA_DCS, "BA") is classify(SIA_DCS, "BA", "3")
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.text = "changed"  # type: ignore[misc]
    assert classify(CONTACT_ID, "E130") is first
    assert classify(CONTACT_ID, "R301") is classify(CONTACT_ID, "301", "3")
    unknown = classify(CONTACT_ID, "999")
    assert classify(CONTACT_ID, "999") is unknown


def test_categories_label_every_category_for_the_portal_filters() -> None:
    labels = categories()
    assert list(labels) == [
        SignalCategory.ALARM,
        SignalCategory.TROUBLE,
        SignalCategory.POWER,
        SignalCategory.TEST,
        SignalCategory.OPEN_CLOSE,
        SignalCategory.SUPERVISORY,
        SignalCategory.BYPASS,
        SignalCategory.OTHER,
    ]
    assert set(labels) == set(SignalCategory)
    assert labels[SignalCategory.ALARM] == "Alarms and emergencies"
    assert labels[SignalCategory.TROUBLE] == "Troubles and issues"
    assert labels[SignalCategory.POWER] == "Power loss"
    assert labels[SignalCategory.TEST] == "Tests"
    assert labels[SignalCategory.OPEN_CLOSE] == "Openings and closings"
    assert all(label.strip() == label and label for label in labels.values())
    with pytest.raises(TypeError):
        labels[SignalCategory.OTHER] = "x"  # type: ignore[index]


def test_every_category_has_codes() -> None:
    used = {entry.category for entry in entries()}
    assert used == set(SignalCategory)


def test_entries_rejects_an_unknown_format_and_lookup_returns_none() -> None:
    with pytest.raises(ValueError, match="unknown event format"):
        entries("CID")
    assert lookup(CONTACT_ID, "999") is None
    assert lookup("nope", "130") is None
    found = lookup(SIA_DCS, "BR")
    assert found is not None and found.restores == "BA" and found.is_restore


def test_every_known_code_classifies_as_its_entry() -> None:
    for entry in entries():
        for qualifier in ("1", "3", "6"):
            result = classify(entry.format, entry.code, qualifier)
            assert result.known
            assert (result.category, result.alarm_type, result.priority, result.field) == (
                entry.category,
                entry.alarm_type,
                entry.priority,
                entry.field,
            )
            assert result.text

"""Tests the catalogue CSV files: their columns, the loader's rules, and loading through importlib.resources."""

import csv
import io
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest

import shared.catalogue
from shared.catalogue import CONTACT_ID, SIA_DCS, CatalogueError, entries
from shared.catalogue.loader import (
    CONTACT_ID_COLUMNS,
    SIA_DCS_COLUMNS,
    parse_contact_id,
    parse_sia_dcs,
    read_packaged,
)

PACKAGE_DIR = Path(shared.catalogue.__file__).parent
CID_HEADER = ",".join(CONTACT_ID_COLUMNS)
SIA_HEADER = ",".join(SIA_DCS_COLUMNS)


@pytest.mark.parametrize(
    ("name", "columns", "format"),
    [("contact_id.csv", CONTACT_ID_COLUMNS, CONTACT_ID), ("sia_dcs.csv", SIA_DCS_COLUMNS, SIA_DCS)],
)
def test_the_csv_files_load_through_importlib_resources(name: str, columns: tuple[str, ...], format: str) -> None:
    text = resources.files("shared.catalogue").joinpath(name).read_text(encoding="utf-8")
    assert read_packaged(name) == text
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == columns
    assert all(len(row) == len(columns) for row in rows)
    assert len(rows) - 1 == len(entries(format))
    assert [row[0] for row in rows[1:]] == sorted(row[0] for row in rows[1:])
    assert text.endswith("\n") and "\r" not in text


def test_the_catalogue_imports_from_a_zip_like_an_installed_package(tmp_path: Path) -> None:
    archive = tmp_path / "alarmhub.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("shared/__init__.py", '"""Stand-in for the shared package."""\n')
        for path in PACKAGE_DIR.iterdir():
            if path.suffix in {".py", ".csv"}:
                zipped.write(path, f"shared/catalogue/{path.name}")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import shared.catalogue as c; "
        "assert c.__file__.startswith(sys.argv[1]), c.__file__; "
        "print(len(c.entries(c.CONTACT_ID)), len(c.entries(c.SIA_DCS)), c.classify(c.SIA_DCS, 'BR').restores)"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", script, str(archive)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(len(entries(CONTACT_ID))), str(len(entries(SIA_DCS))), "BA"]


def test_a_valid_contact_id_file_parses() -> None:
    text = f"{CID_HEADER}\n130,alarm,burglary,3,zone,Burglary alarm,Burglary alarm restored,130\n"
    text += "401,open_close,,6,user,Opening by user,Closing by user,\n602,test,,6,zone,Periodic test report,,\n"
    parsed = parse_contact_id(text)
    assert [entry.code for entry in parsed] == ["130", "401", "602"]
    assert parsed[1].restore_text == "Closing by user" and parsed[1].restored_by is None
    assert parsed[0].restored_by == "130"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("130,alarm,burglary,3,zone,Burglary,,\n130,alarm,burglary,3,zone,Burglary,,\n", "more than once"),
        ("13,alarm,burglary,3,zone,Burglary,,\n", "malformed code"),
        ("130,alarms,burglary,3,zone,Burglary,,\n", "unknown category"),
        ("130,alarm,,3,zone,Burglary,,\n", "alarm_type"),
        ("301,power,fire,5,zone,AC power loss,,\n", "alarm_type"),
        ("130,alarm,robbery,3,zone,Burglary,,\n", "unknown alarm_type"),
        ("130,alarm,burglary,high,zone,Burglary,,\n", "priority"),
        ("130,alarm,burglary,0,zone,Burglary,,\n", "priority"),
        ("130,alarm,burglary,3,area,Burglary,,\n", "field"),
        ("130,alarm,burglary,3,zone,,,\n", "text is empty"),
        ("130,alarm,burglary,3,zone, Burglary,,\n", "whitespace"),
        ("401,open_close,,6,user,Opening,Closing,401\n", "closing"),
        ("130,alarm,burglary,3,zone,Burglary,Restored,131\n", "restored by itself"),
        ("130,alarm,burglary,3,zone,Burglary,,130\n", "no restore_text"),
        ("130,alarm,burglary,3,zone,Burglary,Restored,\n", "restored_by is empty"),
        ("130,alarm,burglary,3,zone,Burglary,,,extra\n", "columns"),
        ("130,alarm,burglary,3,zone,Burglary\n", "columns"),
    ],
)
def test_contact_id_rules(body: str, message: str) -> None:
    with pytest.raises(CatalogueError, match=message) as raised:
        parse_contact_id(f"{CID_HEADER}\n{body}", "test.csv")
    assert str(raised.value).startswith("test.csv:")


def test_a_wrong_header_is_refused() -> None:
    with pytest.raises(CatalogueError, match=r"test.csv:1: header"):
        parse_contact_id("code,category\n130,alarm\n", "test.csv")
    with pytest.raises(CatalogueError, match="header"):
        parse_sia_dcs("", "test.csv")


SIA_PAIR = "BA,alarm,burglary,3,zone,Burglary alarm,false,,BR\nBR,alarm,burglary,3,zone,Burglary restored,true,BA,\n"


def test_a_valid_sia_file_parses() -> None:
    parsed = parse_sia_dcs(f"{SIA_HEADER}\n{SIA_PAIR}")
    assert [(entry.code, entry.is_restore, entry.restores, entry.restored_by) for entry in parsed] == [
        ("BA", False, None, "BR"),
        ("BR", True, "BA", None),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("BA,alarm,burglary,3,zone,Burglary alarm,yes,,\n", "is_restore"),
        ("BR,alarm,burglary,3,zone,Burglary restored,true,,\n", "names what it restores"),
        ("BA,alarm,burglary,3,zone,Burglary alarm,false,BR,\n", "names what it restores"),
        ("BA,alarm,burglary,3,zone,Burglary alarm,false,,BR\n", "must restore it"),
        ("BR,alarm,burglary,3,zone,Burglary restored,true,BA,\n", "no event code"),
        (
            "BA,alarm,burglary,3,zone,Burglary alarm,false,,\nBR,alarm,burglary,3,zone,Burglary restored,true,BA,\n",
            "names no restore",
        ),
        (
            "BA,alarm,burglary,3,zone,Burglary alarm,false,,BR\nBR,trouble,,5,zone,Burglary restored,true,BA,\n",
            "differ in category",
        ),
        ("BR,alarm,burglary,3,zone,Burglary restored,true,BA,BA\n", "cannot itself be restored"),
        ("ba,alarm,burglary,3,zone,Burglary alarm,false,,\n", "malformed code"),
        (SIA_PAIR + SIA_PAIR, "more than once"),
    ],
)
def test_sia_rules(body: str, message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        parse_sia_dcs(f"{SIA_HEADER}\n{body}", "test.csv")

"""The password policy: one rule, and the command line refuses what the portal refuses."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from alarmhub.cli import main
from shared.enrolment import create_customer, create_staff_user
from shared.errors import DomainError
from shared.password_policy import MAX_LENGTH, check_password, password_problem

# Each of these passed `alarmhub admin create-user` and /admin/staff before the policy was shared.
WEAK_FOR_CAROL = ("Password2024!", "qwertyuiop", "carol.jones-1990", "x" * 250 + "abcdefg")


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short1!", "at least 10"),
        ("aaaaabbbbbb", "more varied"),
        ("y" * (MAX_LENGTH - 4) + "abcde", "at most 256"),
        ("1234567890", "too easy"),
        ("Password2024!", "too easy"),
        ("welcome!!11", "too easy"),
        ("Carol.Jones-1990", "too easy"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, problem: str) -> None:
    assert problem in (password_problem(password, email="carol.jones@example.com") or "")


def test_good_passwords_pass_and_short_local_parts_are_no_reason_to_refuse() -> None:
    for password in ("correct horse battery", "demo-password-1", "a password with jo in it"):
        assert password_problem(password, email="jo@example.com") is None
    assert password_problem("y" * (MAX_LENGTH - 5) + "abcde") is None


def test_the_error_names_the_field() -> None:
    with pytest.raises(DomainError) as refused:
        check_password("qwertyuiop", field="new_password")
    assert refused.value.field == "new_password" and "too easy" in refused.value.message


@pytest.mark.parametrize("password", WEAK_FOR_CAROL)
async def test_enrolment_refuses_what_the_portal_refuses(db: asyncpg.Pool, password: str) -> None:
    async with db.acquire() as connection:
        with pytest.raises(DomainError) as staff:
            await create_staff_user(connection, email="carol.jones@example.com", password=password, role="admin")
        with pytest.raises(DomainError) as customer:
            await create_customer(
                connection, name="Carol", email="carol.jones@example.com", password=password, account="CA401"
            )
        assert await connection.fetchval("SELECT count(*) FROM users") == 0
    assert staff.value.field == customer.value.field == "password"


@pytest.mark.parametrize("task", ["create-user", "create-customer"])
def test_the_command_line_refuses_a_weak_password_naming_the_field(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], task: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no config.toml of the developer's
    monkeypatch.setenv("ALARMHUB_DATABASE_URL", database_url)
    extra = ["--role", "dispatcher"] if task == "create-user" else ["--name", "Carol", "--account", "CA402"]
    status = main(["admin", task, "--email", "carol.jones@example.com", "--password", "Password2024!", *extra])
    assert status == 1
    assert "password: this password is too easy to guess" in capsys.readouterr().err

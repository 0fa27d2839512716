"""The password policy: the one rule every new password meets, wherever it is chosen (portal, admin page, CLI)."""

from __future__ import annotations

import string

from shared.errors import DomainError

MIN_LENGTH = 10
MAX_LENGTH = 256  # Argon2 would take any length; a bound keeps one request from costing too much
MIN_DISTINCT_CHARACTERS = 5
# A local part this long inside the password makes it guessable by anyone who knows the address.
MIN_LOCAL_PART_LENGTH = 4

# Long enough to pass the length rule, yet near the top of every leaked-password list.
_COMMON = frozenset(
    {
        "1234567890",
        "12345678910",
        "0123456789",
        "0987654321",
        "1122334455",
        "1qaz2wsx3edc",
        "1q2w3e4r5t",
        "1q2w3e4r5t6y",
        "qwertyuiop",
        "qwerty12345",
        "qwerty123456",
        "asdfghjkl1",
        "zxcvbnm123",
        "abcdefghij",
        "abc1234567",
        "password12",
        "password123",
        "password1234",
        "passw0rd123",
        "p@ssw0rd123",
        "iloveyou123",
        "letmein123",
        "welcome123",
        "changeme123",
        "trustno1234",
        "admin12345",
        "administrator",
        "monitoring",
        "security123",
    }
)
# A common word padded with digits and punctuation ("Password2024!", "welcome!!11") is no better than the word.
_COMMON_WORDS = frozenset(
    {
        "password",
        "passwort",
        "qwerty",
        "qwertyuiop",
        "asdfghjkl",
        "letmein",
        "welcome",
        "iloveyou",
        "admin",
        "administrator",
        "changeme",
        "monitoring",
        "security",
        "alarm",
        "sentinel",
        "secret",
    }
)
_PADDING = string.digits + string.punctuation + " "


def password_problem(password: str, *, email: str = "") -> str | None:
    """What is wrong with `password` as a new password for the login `email`, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"use at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"use at most {MAX_LENGTH} characters"
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        return "use more varied characters"
    lowered = password.lower()
    local_part = email.strip().lower().partition("@")[0]
    if (
        lowered in _COMMON
        or lowered.strip(_PADDING) in _COMMON_WORDS
        or (len(local_part) >= MIN_LOCAL_PART_LENGTH and local_part in lowered)
    ):
        return "this password is too easy to guess: avoid common passwords and your e-mail address"
    return None


def check_password(password: str, *, email: str = "", field: str = "password") -> None:
    """Raise DomainError naming `field` when `password` breaks the policy."""
    problem = password_problem(password, email=email)
    if problem is not None:
        raise DomainError(problem, field=field)

"""The call list (C12): each premises' contacts in calling order and its verbal passcode, every change audited.

`queries` reads (contacts_of, passcode_of — the passcode only for the owner's pages and staff: the caller decides),
`changes` writes (each change audited and announced on CALL_LIST in its transaction), `rules` says what is valid.
"""

from shared.call_list.changes import (
    STALE_ORDER,
    add_contact,
    clear_passcode,
    edit_contact,
    move_contact,
    remove_contact,
    reorder,
    set_passcode,
)
from shared.call_list.queries import (
    Change,
    Contact,
    ContactDetails,
    Premises,
    changes_of,
    contact_of,
    contacts_of,
    passcode_of,
    premises_of,
    site_of,
)
from shared.call_list.rules import (
    CALL_LIST,
    MAX_CONTACTS,
    CallListChanged,
    Direction,
    InvalidContact,
    clean_contact,
    clean_passcode,
)

__all__ = [
    "CALL_LIST",
    "MAX_CONTACTS",
    "STALE_ORDER",
    "CallListChanged",
    "Change",
    "Contact",
    "ContactDetails",
    "Direction",
    "InvalidContact",
    "Premises",
    "add_contact",
    "changes_of",
    "clean_contact",
    "clean_passcode",
    "clear_passcode",
    "contact_of",
    "contacts_of",
    "edit_contact",
    "move_contact",
    "passcode_of",
    "premises_of",
    "remove_contact",
    "reorder",
    "set_passcode",
    "site_of",
]

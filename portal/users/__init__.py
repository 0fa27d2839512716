"""Users (C8): an owner's secondary users — invitations, permissions, removal."""

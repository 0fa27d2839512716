"""The portal's e-mail: composing messages (queued in the outbox) and the admins' outbox page."""

-- Mail in the company's look: an HTML part beside the text, attachments (receipts, invoices, certificates), and
-- the user a mail is about, so that removing the user cancels what is still waiting for them.

ALTER TABLE outbox
    -- Blanked with the text once the mail is delivered, refused or cancelled: it may hold the same link.
    ADD COLUMN html    text NOT NULL DEFAULT '',
    ADD COLUMN user_id bigint REFERENCES users ON DELETE SET NULL;

ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'cancelled'));

-- Also what ON DELETE SET NULL looks rows up by when a user goes.
CREATE INDEX outbox_user_id ON outbox (user_id) WHERE user_id IS NOT NULL;

-- The outbox is a queue, not an archive: an attachment's bytes are dropped once its mail is delivered, refused
-- or cancelled (the document is made again from its own records); name, type and size stay for the admins.
CREATE TABLE outbox_attachments (
    outbox_id    bigint NOT NULL REFERENCES outbox ON DELETE CASCADE,
    position     integer NOT NULL,
    filename     text NOT NULL CHECK (filename <> '' AND filename !~ '[/\\\r\n]'),
    content_type text NOT NULL CHECK (content_type ~ '^[a-z0-9.+-]+/[a-z0-9.+-]+$'),
    size         integer NOT NULL CHECK (size >= 0),
    content      bytea NOT NULL,
    PRIMARY KEY (outbox_id, position)
);

-- An invitation, confirmation or reset mail still waiting when its user is removed must never go: its link died
-- with the user's tokens, and the mail would still tell the removed person about the account. Whatever path
-- deletes the user (a removal, a customer's deletion), the mail is cancelled and its texts blanked.
CREATE FUNCTION outbox_cancel_for_removed_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE outbox SET status = 'cancelled', body = '', html = '', last_error = 'its user was removed'
     WHERE user_id = OLD.id AND status = 'pending';
    UPDATE outbox_attachments a SET content = ''::bytea
      FROM outbox o
     WHERE a.outbox_id = o.id AND o.user_id = OLD.id AND o.status = 'cancelled' AND a.content <> ''::bytea;
    RETURN OLD;
END
$$;
CREATE TRIGGER outbox_cancel_for_removed_user
    BEFORE DELETE ON users FOR EACH ROW EXECUTE FUNCTION outbox_cancel_for_removed_user();

-- Billing (SPEC C4-C7, shared/billing/): the monthly fee, invoices with lines, payment methods as gateway tokens,
-- payments, the ledger that applies them to invoices (allocations) and takes them back (refunds, voids), autopay
-- and its monthly drafts, and the sandbox gateway's own records. Money is numeric(12,2), never float.
--
-- The ledger is append-only: allocations and invoice lines are never updated or deleted; a payment or a refund
-- changes once, from pending to its outcome. What an invoice owes is derived: total minus what is applied to it.
-- Every change to one customer's ledger takes that customer's row lock first (shared/billing/ledger.py).

-- The plan: what the billing cycle invoices each month (0: nothing).
ALTER TABLE customers ADD COLUMN monthly_fee numeric(12,2) NOT NULL DEFAULT 0 CHECK (monthly_fee >= 0);

-- Invoice numbers come from a sequence: never reused, even when an invoice is voided or a transaction rolls back.
CREATE SEQUENCE invoice_numbers START 10001;

CREATE TABLE invoices (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers ON DELETE RESTRICT,
    number      text NOT NULL UNIQUE,
    -- The month a billing-cycle invoice bills (its first day); NULL for an invoice staff created by hand.
    -- UNIQUE (customer_id, period) is what makes the cycle issue exactly one invoice per customer and month.
    period      date CHECK (period = date_trunc('month', period)::date),
    issued_on   date NOT NULL,
    due_on      date NOT NULL,
    total       numeric(12,2) NOT NULL CHECK (total > 0),  -- the sum of its lines, written with them
    description text NOT NULL DEFAULT '',
    voided_at   timestamptz,
    void_reason text NOT NULL DEFAULT '',
    created_by  bigint REFERENCES users ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, period),
    CHECK ((voided_at IS NULL) = (void_reason = ''))
);
CREATE INDEX invoices_customer ON invoices (customer_id, issued_on DESC, id DESC);

CREATE TABLE invoice_lines (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id  bigint NOT NULL REFERENCES invoices ON DELETE RESTRICT,
    position    smallint NOT NULL,
    description text NOT NULL CHECK (btrim(description) <> ''),
    amount      numeric(12,2) NOT NULL CHECK (amount > 0),
    UNIQUE (invoice_id, position)
);

-- A card or bank account on file: the gateway's token and what a person recognises it by. Never the number or the
-- security code (C5). Removing one keeps the row (removed_at) so past payments still name what paid them.
CREATE TABLE payment_methods (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id       bigint NOT NULL REFERENCES customers ON DELETE RESTRICT,
    kind              text NOT NULL CHECK (kind IN ('card', 'bank_account')),
    gateway           text NOT NULL,                 -- which gateway issued the token ('sandbox')
    gateway_token     text NOT NULL,
    brand             text NOT NULL,                 -- Visa, Mastercard, ... or the bank's name
    last4             text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month         smallint CHECK (exp_month BETWEEN 1 AND 12),
    exp_year          smallint CHECK (exp_year BETWEEN 2000 AND 2200),
    account_type      text CHECK (account_type IN ('checking', 'savings')),
    holder_name       text NOT NULL,
    billing_address   text NOT NULL,
    is_default        boolean NOT NULL DEFAULT false,
    terms_accepted_at timestamptz NOT NULL,
    added_by          bigint REFERENCES users ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    removed_at        timestamptz,
    CHECK ((kind = 'card') = (exp_month IS NOT NULL AND exp_year IS NOT NULL)),
    CHECK ((kind = 'bank_account') = (account_type IS NOT NULL)),
    CHECK (NOT (is_default AND removed_at IS NOT NULL))
);
CREATE UNIQUE INDEX payment_methods_one_default ON payment_methods (customer_id) WHERE is_default;
CREATE INDEX payment_methods_customer ON payment_methods (customer_id) WHERE removed_at IS NULL;

-- Receipt numbers, one per payment.
CREATE SEQUENCE payment_numbers START 50001;

-- A payment: one charge attempt of one amount, known by the idempotency key of the submission (or autopay draft)
-- that made it: a second submission with the same key finds this row and never charges again. `plan` is how the
-- payer asked to apply it ([{"invoice_id": 7, "amount": "10.00"}, ...], amounts as text); it is applied to the
-- ledger when the payment succeeds, and whatever it cannot apply becomes credit.
CREATE TABLE payments (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id       bigint NOT NULL REFERENCES customers ON DELETE RESTRICT,
    number            text NOT NULL UNIQUE,
    method_id         bigint NOT NULL REFERENCES payment_methods ON DELETE RESTRICT,
    amount            numeric(12,2) NOT NULL CHECK (amount > 0),
    source            text NOT NULL CHECK (source IN ('portal', 'autopay', 'staff')),
    idempotency_key   text NOT NULL CHECK (length(idempotency_key) BETWEEN 16 AND 200),
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'declined', 'failed')),
    gateway_charge_id text,
    failure_code      text NOT NULL DEFAULT '',
    failure_message   text NOT NULL DEFAULT '',
    plan              jsonb NOT NULL DEFAULT '[]',
    created_by        bigint REFERENCES users ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    settled_at        timestamptz,
    UNIQUE (customer_id, idempotency_key),
    CHECK (status <> 'succeeded' OR gateway_charge_id IS NOT NULL),
    CHECK ((status = 'pending') = (settled_at IS NULL))
);
CREATE INDEX payments_customer ON payments (customer_id, created_at DESC, id DESC);
CREATE INDEX payments_pending ON payments (created_at) WHERE status = 'pending';

-- Money given back through the gateway, part or all of one payment.
CREATE TABLE refunds (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id        bigint NOT NULL REFERENCES payments ON DELETE RESTRICT,
    amount            numeric(12,2) NOT NULL CHECK (amount > 0),
    reason            text NOT NULL DEFAULT '',
    idempotency_key   text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 16 AND 200),
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    gateway_refund_id text,
    failure_message   text NOT NULL DEFAULT '',
    created_by        bigint REFERENCES users ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    settled_at        timestamptz,
    CHECK (status <> 'succeeded' OR gateway_refund_id IS NOT NULL),
    CHECK ((status = 'pending') = (settled_at IS NULL))
);
CREATE INDEX refunds_payment ON refunds (payment_id);

-- The ledger: money of a succeeded payment applied to an invoice (positive) or taken back from it (negative: a
-- refund, or the invoice voided). A payment's money not applied to any invoice is the customer's credit.
-- Invariants (shared/billing/ledger.py checks them; the property tests too): per invoice 0 <= applied <= total
-- (0 when void); per payment 0 <= applied <= amount - refunded.
CREATE TABLE allocations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id bigint NOT NULL REFERENCES payments ON DELETE RESTRICT,
    invoice_id bigint NOT NULL REFERENCES invoices ON DELETE RESTRICT,
    amount     numeric(12,2) NOT NULL CHECK (amount <> 0),
    reason     text NOT NULL CHECK (reason IN ('payment', 'credit', 'refund', 'void')),
    refund_id  bigint REFERENCES refunds ON DELETE RESTRICT,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((reason IN ('payment', 'credit')) = (amount > 0)),
    CHECK ((reason = 'refund') = (refund_id IS NOT NULL))
);
CREATE INDEX allocations_invoice ON allocations (invoice_id);
CREATE INDEX allocations_payment ON allocations (payment_id);

-- Autopay (C6): the standing instruction. It drafts from `starts_period` on (the month after it was set up),
-- on `draft_day` of each month. Cancelling deletes it; the drafts stay.
CREATE TABLE autopay (
    customer_id   bigint PRIMARY KEY REFERENCES customers ON DELETE CASCADE,
    method_id     bigint NOT NULL REFERENCES payment_methods ON DELETE RESTRICT,
    draft_day     smallint NOT NULL CHECK (draft_day BETWEEN 1 AND 28),
    starts_period date NOT NULL CHECK (starts_period = date_trunc('month', starts_period)::date),
    updated_by    bigint REFERENCES users ON DELETE SET NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One draft per customer and month, whatever the number of workers or restarts (the primary key). Each attempt is
-- a payment with its own idempotency key (autopay:<customer>:<period>:<attempt>), so a retry after a decline is a
-- new charge and an attempt cut short is looked up with its key, never charged again.
CREATE TABLE autopay_drafts (
    customer_id     bigint NOT NULL REFERENCES customers ON DELETE RESTRICT,
    period          date NOT NULL CHECK (period = date_trunc('month', period)::date),
    status          text NOT NULL DEFAULT 'due'
                    CHECK (status IN ('due', 'paid', 'nothing_due', 'stopped', 'cancelled')),
    amount          numeric(12,2) CHECK (amount >= 0),
    attempts        smallint NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    payment_id      bigint REFERENCES payments ON DELETE RESTRICT,  -- the latest attempt
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, period)
);
CREATE INDEX autopay_drafts_due ON autopay_drafts (next_attempt_at) WHERE status = 'due';

-- Mail the ledger owes a customer (a receipt, a declined draft, ...): written in the transaction that caused it and
-- turned into an outbox message by the worker's billing-notices queue job, which deletes the row in the same
-- transaction. Composing a receipt and its PDF stays off the payment's own path (and off the drafts' hot loop).
CREATE TABLE billing_notices (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('receipt', 'refund', 'autopay_declined', 'autopay_stopped')),
    customer_id bigint NOT NULL REFERENCES customers ON DELETE CASCADE,
    payment_id  bigint REFERENCES payments ON DELETE RESTRICT,
    refund_id   bigint REFERENCES refunds ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- A notice whose mail could not be composed (a bug, a row the templates do not expect) is kept, set aside with
    -- the error, so it neither blocks the queue nor is lost; clearing failed_at sends it again.
    failed_at   timestamptz,
    error       text NOT NULL DEFAULT '',
    CHECK ((kind = 'refund') = (refund_id IS NOT NULL))
);
CREATE INDEX billing_notices_waiting ON billing_notices (id) WHERE failed_at IS NULL;

-- Append-only: what the ledger recorded stays as it was recorded.
CREATE FUNCTION billing_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER allocations_append_only BEFORE UPDATE OR DELETE ON allocations
    FOR EACH ROW EXECUTE FUNCTION billing_append_only();
CREATE TRIGGER invoice_lines_append_only BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION billing_append_only();

-- A payment or refund is settled once, from pending to its outcome; what was charged never changes afterwards.
CREATE FUNCTION billing_settle_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION '% rows are never deleted', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.status <> 'pending' THEN
        RAISE EXCEPTION '% % is settled already (%)', TG_TABLE_NAME, OLD.id, OLD.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.amount <> OLD.amount OR NEW.idempotency_key <> OLD.idempotency_key THEN
        RAISE EXCEPTION 'the amount and key of % % never change', TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER payments_settle_once BEFORE UPDATE OR DELETE ON payments
    FOR EACH ROW EXECUTE FUNCTION billing_settle_once();
CREATE TRIGGER refunds_settle_once BEFORE UPDATE OR DELETE ON refunds
    FOR EACH ROW EXECUTE FUNCTION billing_settle_once();

-- The built-in sandbox gateway's own records (shared/billing/sandbox.py): what a real gateway keeps on its side.
-- Kept apart from the ledger, so the sandbox behaves like a remote gateway: it remembers charges by idempotency key
-- and can be asked about one after a timeout. A token remembers how its test number behaves and its last four
-- digits, never the number itself.
CREATE TABLE sandbox_tokens (
    token      text PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('card', 'bank_account')),
    behaviour  text NOT NULL,
    last4      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE sandbox_charges (
    id              text PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    token           text NOT NULL REFERENCES sandbox_tokens,
    amount          numeric(12,2) NOT NULL CHECK (amount > 0),
    status          text NOT NULL CHECK (status IN ('succeeded', 'declined', 'failed')),
    failure_code    text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE sandbox_refunds (
    id              text PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    charge_id       text NOT NULL REFERENCES sandbox_charges,
    amount          numeric(12,2) NOT NULL CHECK (amount > 0),
    created_at      timestamptz NOT NULL DEFAULT now()
);

"""Autopay's set-based SQL, run by autopay_drafts.py: drafts made, claimed, opened as payments, settled, followed."""

from __future__ import annotations

# The attempt a draft is on: the one after those already settled.
KEY = "'autopay:' || d.customer_id || ':' || to_char(d.period, 'YYYY-MM') || ':' || (d.attempts + 1)"

# A draft still 'due' whose attempt has no payment on its way is cancelled with autopay; one whose charge is on its
# way finishes (the money may have moved) and is then cancelled by the follow-up if it did not go through.
CANCEL_DUE_DRAFTS = f"""
    UPDATE autopay_drafts d SET status = 'cancelled', updated_at = now()
     WHERE d.customer_id = $1 AND d.status = 'due'
       AND NOT EXISTS (SELECT 1 FROM payments p
                        WHERE p.customer_id = d.customer_id AND p.idempotency_key = {KEY} AND p.status = 'pending')
"""

# What an invoice still owes (not void): total minus every allocation to it.
OWED = "i.total - coalesce((SELECT sum(x.amount) FROM allocations x WHERE x.invoice_id = i.id), 0)"

# This month's drafts of every autopay customer whose draft day has come, with what they owe now. A customer with a
# monthly fee waits for the billing cycle's invoice of the month: drafting before it would find nothing due (or
# only last month's rest) and leave this month's fee to be paid by hand.
MAKE_DRAFTS = f"""
    WITH made AS (
        INSERT INTO autopay_drafts (customer_id, period, status, amount, next_attempt_at)
        SELECT a.customer_id, $1::date, CASE WHEN b.owed > 0 THEN 'due' ELSE 'nothing_due' END, b.owed, $3
          FROM autopay a
          JOIN customers c ON c.id = a.customer_id
         CROSS JOIN LATERAL (SELECT coalesce(sum({OWED}), 0) AS owed
                               FROM invoices i WHERE i.customer_id = a.customer_id AND i.voided_at IS NULL) b
         WHERE a.starts_period <= $1 AND a.draft_day <= $2
           AND NOT EXISTS (SELECT 1 FROM autopay_drafts d WHERE d.customer_id = a.customer_id AND d.period = $1)
           AND (c.monthly_fee = 0
                OR EXISTS (SELECT 1 FROM invoices i WHERE i.customer_id = a.customer_id AND i.period = $1))
         ORDER BY a.customer_id
        ON CONFLICT DO NOTHING
        RETURNING status
    )
    SELECT status, count(*) AS n FROM made GROUP BY status
"""

# Drafts to attempt now: due, their attempt not yet made, and no payment of the customer's on its way (its outcome
# changes what is owed). SKIP LOCKED: a draft another worker is claiming is that worker's. No ORDER BY: every draft
# found is due now and all are done in this run, while sorting them made each claim read every due draft (100,000
# at the start) instead of stopping at the batch's size.
CLAIM = f"""
    SELECT d.customer_id, d.period, d.attempts + 1 AS attempt
      FROM autopay_drafts d
     WHERE d.status = 'due' AND d.next_attempt_at <= $1
       AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.customer_id = d.customer_id AND p.idempotency_key = {KEY})
       AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.customer_id = d.customer_id AND p.status = 'pending')
     LIMIT $2
       FOR UPDATE OF d SKIP LOCKED
"""

# Never waits for a customer's lock while holding drafts: a customer busy elsewhere is left for a later claim.
LOCK_FREE_CUSTOMERS = """
    SELECT id FROM customers WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED
"""

# Under the customers' locks (so what is owed is current): each claimed draft's attempt becomes a pending payment of
# everything owed, its plan the open invoices oldest first; the drafts say what happened. One statement.
OPEN_ATTEMPTS = f"""
    WITH claim AS (
        SELECT * FROM unnest($1::bigint[], $2::date[], $3::int[]) AS c(customer_id, period, attempt)
    ), state AS (
        SELECT c.customer_id, c.period, c.attempt, a.method_id, m.gateway_token, due.amount, due.plan,
               a.customer_id IS NOT NULL AS autopay_on,
               EXISTS (SELECT 1 FROM payments p WHERE p.customer_id = c.customer_id AND p.status = 'pending') AS busy
          FROM claim c
          LEFT JOIN autopay a ON a.customer_id = c.customer_id
          LEFT JOIN payment_methods m ON m.id = a.method_id AND m.removed_at IS NULL AND m.gateway = $4
         CROSS JOIN LATERAL (  -- per customer (an aggregate is never flattened): their invoices by index
               SELECT sum(o.balance) AS amount,
                      jsonb_agg(jsonb_build_object('invoice_id', o.id, 'amount', o.balance::text)
                                ORDER BY o.due_on, o.id) AS plan
                 FROM (SELECT i.id, i.due_on, {OWED} AS balance
                         FROM invoices i WHERE i.customer_id = c.customer_id AND i.voided_at IS NULL) o
                WHERE o.balance > 0) due
    ), opened AS (
        INSERT INTO payments (customer_id, number, method_id, amount, source, idempotency_key, plan)
        SELECT customer_id, 'PAY-' || nextval('payment_numbers'), method_id, amount, 'autopay',
               'autopay:' || customer_id || ':' || to_char(period, 'YYYY-MM') || ':' || attempt, plan
          FROM state WHERE NOT busy AND gateway_token IS NOT NULL AND amount > 0
         ORDER BY customer_id
        ON CONFLICT (customer_id, idempotency_key) DO NOTHING
        RETURNING id, customer_id, amount
    ), outcome AS (
        SELECT s.customer_id, s.period, o.id AS payment_id, o.amount, s.gateway_token,
               CASE WHEN o.id IS NOT NULL THEN 'opened' WHEN s.busy THEN 'busy' WHEN NOT s.autopay_on THEN 'cancelled'
                    WHEN s.amount IS NULL THEN 'nothing_due' WHEN s.gateway_token IS NULL THEN 'no_method'
                    ELSE 'taken' END AS result
          FROM state s LEFT JOIN opened o ON o.customer_id = s.customer_id
    ), marked AS (
        UPDATE autopay_drafts d
           SET payment_id = coalesce(o.payment_id, d.payment_id),
               amount = CASE o.result WHEN 'opened' THEN o.amount WHEN 'nothing_due' THEN 0 ELSE d.amount END,
               status = CASE o.result WHEN 'nothing_due' THEN 'nothing_due' WHEN 'cancelled' THEN 'cancelled'
                                      WHEN 'no_method' THEN 'stopped' ELSE d.status END,
               last_error = CASE o.result WHEN 'no_method' THEN $5 ELSE d.last_error END,
               updated_at = now()
          FROM outcome o
         WHERE d.customer_id = o.customer_id AND d.period = o.period
           AND o.result IN ('opened', 'nothing_due', 'cancelled', 'no_method')
    )
    SELECT customer_id, period, payment_id, amount, gateway_token, result FROM outcome
"""

SETTLE = """
    UPDATE payments p
       SET status = o.status, gateway_charge_id = o.charge_id, failure_code = o.code, failure_message = o.message,
           settled_at = now()
      FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])
           AS o(id, status, charge_id, code, message)
     WHERE p.id = o.id AND p.status = 'pending'
    RETURNING p.id, p.status
"""

# ledger.apply_plan for many payments in one statement: each plan line capped at what its invoice owes now (a void
# invoice owes nothing); the rest of the payment stays credit. Then each payment's receipt.
APPLY_PLANS = f"""
    WITH applied AS (
        INSERT INTO allocations (payment_id, invoice_id, amount, reason)
        SELECT p.id, i.id, least((l.line ->> 'amount')::numeric, {OWED}), 'payment'
          FROM payments p
         CROSS JOIN LATERAL jsonb_array_elements(p.plan) WITH ORDINALITY AS l(line, n)
          JOIN invoices i ON i.id = (l.line ->> 'invoice_id')::bigint AND i.customer_id = p.customer_id
                         AND i.voided_at IS NULL
         WHERE p.id = ANY($1::bigint[]) AND least((l.line ->> 'amount')::numeric, {OWED}) > 0
         ORDER BY p.id, l.n
    )
    INSERT INTO billing_notices (kind, customer_id, payment_id)
    SELECT 'receipt', customer_id, id FROM payments WHERE id = ANY($1::bigint[]) ORDER BY id
"""

# A draft whose attempt's payment is settled moves on: paid; or the attempt counted and tried again later, stopped
# for the month after `retries` retries, or cancelled when autopay was turned off meanwhile. Its customer is told
# of a decline and of the stop. {where} picks the drafts: by their payments, or every due draft.
FOLLOW = """
    WITH settled AS (
        SELECT d.customer_id, d.period, d.attempts + 1 AS attempts, p.id AS payment_id, p.status AS result,
               p.failure_message, NOT EXISTS (SELECT 1 FROM autopay a WHERE a.customer_id = d.customer_id) AS off
          FROM autopay_drafts d
          JOIN payments p ON p.customer_id = d.customer_id AND p.idempotency_key = {key}
         WHERE d.status = 'due' AND p.status <> 'pending' AND {where}
           FOR UPDATE OF d SKIP LOCKED
    ), moved AS (
        UPDATE autopay_drafts d
           SET attempts = s.attempts, payment_id = s.payment_id,
               status = CASE WHEN s.result = 'succeeded' THEN 'paid' WHEN s.off THEN 'cancelled'
                             WHEN s.attempts > $2 THEN 'stopped' ELSE 'due' END,
               next_attempt_at = CASE WHEN s.result = 'succeeded' OR s.off OR s.attempts > $2
                                      THEN d.next_attempt_at ELSE $3 END,
               last_error = CASE WHEN s.result = 'succeeded' THEN '' ELSE s.failure_message END,
               updated_at = now()
          FROM settled s
         WHERE d.customer_id = s.customer_id AND d.period = s.period
        RETURNING d.customer_id, d.status, s.payment_id
    ), told AS (
        INSERT INTO billing_notices (kind, customer_id, payment_id)
        SELECT CASE status WHEN 'stopped' THEN 'autopay_stopped' ELSE 'autopay_declined' END, customer_id, payment_id
          FROM moved WHERE status IN ('due', 'stopped') ORDER BY customer_id
    )
    SELECT CASE status WHEN 'due' THEN 'declined' ELSE status END AS status, count(*) AS n FROM moved GROUP BY 1
"""
FOLLOW_PAYMENTS = FOLLOW.format(key=KEY, where="p.id = ANY($1::bigint[])")
FOLLOW_ALL = FOLLOW.format(key=KEY, where="$1::bigint[] IS NULL")

# Attempts left pending (a crash between commit and charge, or a charge unanswered) long enough to be looked into.
STUCK = """
    SELECT p.id, p.customer_id, p.amount, m.gateway_token,
           -- Never sent once the customer stopped autopay or removed the card: then the gateway is only asked.
           m.removed_at IS NULL AND EXISTS (SELECT 1 FROM autopay a WHERE a.customer_id = p.customer_id) AS sendable
      FROM payments p JOIN payment_methods m ON m.id = p.method_id
     WHERE p.status = 'pending' AND p.source = 'autopay' AND p.id > $3
       AND p.created_at < now() - make_interval(secs => $1) AND p.created_at > now() - make_interval(secs => $2)
     ORDER BY p.id
     LIMIT $4
"""

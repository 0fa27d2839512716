"""Billing: invoices, payments, the ledger that applies one to the other, payment methods, gateways and autopay."""

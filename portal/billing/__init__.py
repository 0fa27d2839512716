"""The customers' Billing Center (C4-C7): invoices, one-time payments, payment methods, autopay, receipts and PDFs."""

"""Accounts: register, confirm the e-mail address, log in and out, change or reset the password."""

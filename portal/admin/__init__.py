"""Admin pages: enrol customers, premises and panels, create staff logins, watch the e-mail outbox."""

"""Who is asking: server-side sessions, the viewer, customer scoping, access rules and CSRF."""

"""Staff pages: the customer directory that dispatchers and admins land on after logging in."""

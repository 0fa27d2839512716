"""Code shared by the receiver and the portal: configuration, database, catalogue, domain rules."""

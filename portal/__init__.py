"""The web portal: customers' self-service pages and the dispatchers' console, over the shared database."""

"""The JSON API under /api/: bearer-token authentication, the OpenAPI document, and the endpoints."""

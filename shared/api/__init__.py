"""The HTTP API (DESIGN §4): Powertools routes over the `shared.services.api_*` use cases."""

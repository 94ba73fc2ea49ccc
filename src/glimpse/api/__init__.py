"""The HTTP surface: Image API v2 routes over the service (only layer that knows Starlette)."""

"""Glimpse: an image service with a Glance-compatible Image API v2."""

__version__ = "0.1.0"

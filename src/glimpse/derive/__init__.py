"""Renditions of pictures: parsing a request, the limits, signing, rendering with libvips."""

"""The `glimpse` command line."""

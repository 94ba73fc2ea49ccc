"""The node-local image cache: bounded, verified, filled while the first reader streams.

``local.LocalCache`` is the cache; ``index`` its SQLite index; ``fill`` one fill
and the readers that tail it; ``locks`` the file locks that make fills single-flight
across the node's workers.
"""

"""Test support for Glimpse and for third-party drivers.

``glimpse.testing`` runs real server processes (standard library only);
``glimpse.testing.store_contract`` is the pytest suite every store driver's tests subclass.
"""

from glimpse.testing.server import ServerProcess, free_port

__all__ = ["ServerProcess", "free_port"]

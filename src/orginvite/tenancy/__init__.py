"""Multi-tenant routing: :mod:`~orginvite.tenancy.rules` (pure: host or path <-> organization) and
:mod:`~orginvite.tenancy.routing` (the router the middleware asks, and the organization directory it may look
names up in).

Rule of the wing: ``rules`` imports no I/O and no ASGI; ``routing`` may use the Management API client.
"""

"""Server-side session stores (:class:`orginvite.sessions.store.Backend`): SQLite for one machine, Redis for many.

Both keep only sealed records (encrypted before they reach the store) under a random session ID, expire them with
the session, and hold a lock per session so that one refresh runs at a time across processes.
"""

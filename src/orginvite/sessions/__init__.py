"""The signed-in state: the member (:mod:`~orginvite.sessions.user`), the session cookie
(:mod:`~orginvite.sessions.cookie`) and cookie signing (:mod:`~orginvite.sessions.signing`).

Rule of the wing: it never imports :mod:`orginvite.login`; the login flow uses it.
"""

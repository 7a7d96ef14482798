"""The login flow: the middleware (:mod:`~orginvite.login.middleware`: route table, tenant binding, pass-through)
hands each route to its own module (``login``, ``interstitial``, ``callback``, ``logout``) with one small
:class:`~orginvite.login.context.LoginContext`; ``oidc``, ``transactions``, ``claims`` (pure) and ``pages`` serve them.

Rule of the wing: it uses :mod:`orginvite.sessions`, :mod:`orginvite.tenancy` and :mod:`orginvite.i18n`; nothing
outside it imports it but the package's public API, the CLI and the demo.
"""

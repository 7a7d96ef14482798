"""An embedded development tenant that behaves like Auth0 Organizations."""

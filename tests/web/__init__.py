"""Tests of the web console: sessions, sign-in routes, roles, live updates, the browser."""

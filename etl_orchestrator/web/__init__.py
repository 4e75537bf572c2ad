"""Server side of the console: sessions, sign-in routes, HTTP API and the live event feed."""

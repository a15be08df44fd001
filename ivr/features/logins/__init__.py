"""Logins: browser sessions, personal API tokens, and the browser checks of the HTTP edge."""

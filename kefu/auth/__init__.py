"""Staff authentication: passwords, session and API tokens, login throttling."""

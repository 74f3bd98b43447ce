"""Web-chat visitors: who they are (anonymous token or a customer signed by the tenant's site)."""

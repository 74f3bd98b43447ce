"""Web chat: what the visitor widget and the agent workspace exchange besides text."""

"""Workforce management: queueing formulas, forecasts and staffing (pure, no I/O)."""

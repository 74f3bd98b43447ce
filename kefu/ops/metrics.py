"""Prometheus metrics of this process (``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

HTTP_REQUESTS = Counter("kefu_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "kefu_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_PUBLISHED = Counter("kefu_events_published_total", "Committed events handed to the bus", ["backend"])
EVENTS_PUBLISH_FAILURES = Counter("kefu_events_publish_failures_total", "Publishes to the bus that failed", ["backend"])
LOGINS = Counter("kefu_logins_total", "Staff login attempts", ["outcome"])


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST

"""Prometheus metrics at /metrics (prometheus_client, one registry per app).

Requests by route, method and status with their latency; search latency by mode; the size of
the index, read when scraped.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

__all__ = ["register"]


def register(app: Flask) -> None:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    registry = CollectorRegistry()
    requests = Counter("kb_http_requests_total", "HTTP requests by route, method and status.",
                       ["route", "method", "status"], registry=registry)
    latency = Histogram("kb_http_request_seconds", "HTTP request latency by route.", ["route"], registry=registry,
                        buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
    searches = Histogram("kb_search_seconds", "Time inside KnowledgeBase.search, by mode.", ["mode"], registry=registry,
                         buckets=(.002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5))
    kb = app.extensions["kb"]

    class IndexSize:
        def collect(self):
            counts = kb.counts()
            for name in ("documents", "passages"):
                family = GaugeMetricFamily(f"kb_index_{name}", f"{name.capitalize()} in the knowledge base.")
                family.add_metric([], getattr(counts, name))
                yield family

    registry.register(IndexSize())
    app.extensions["kb_metrics"] = {"search": searches}

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def count(response):
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        requests.labels(route, request.method, str(response.status_code)).inc()
        latency.labels(route).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

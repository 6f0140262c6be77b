"""GET /metrics: this process's metrics in Prometheus's text format (vardmote.metrics).

Answered without sign-in, like /healthz, so that Prometheus can scrape every
process at its own address. It holds no personal data (counts, bus event
names and Janus node URLs), but it tells how busy the service is: keep it
off the public address. deploy/haproxy.cfg refuses /metrics from outside;
scrape each process directly (docs/operations.md).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vardmote import metrics

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics_page(request: Request) -> Response:
    """metrics_page reads the live meetings on the event loop that owns them (hence async)."""
    return Response(metrics.exposition(request.app.state.live), media_type=metrics.CONTENT_TYPE)

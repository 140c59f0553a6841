"""The server's own housekeeping while it runs: the audit trail keeps events for the retention
period (FLOWUI_AUDIT_RETENTION_DAYS), removing older ones at the server's start, then hourly.

The server does it rather than Airflow's housekeeping DAG, which exists only under `flowui up`:
so the retention holds however FlowUI is deployed. Several servers removing is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from flowui.server.context import ServerContext
from flowui.server.database import transaction
from flowui.server.services.audit import expire_events

AUDIT_EXPIRY_INTERVAL = timedelta(hours=1)

logger = logging.getLogger(__name__)


def expire_audit_events(context: ServerContext) -> int:
    """Remove the audit events older than the retention period; how many."""
    with transaction(context.sessions) as session:
        removed = expire_events(session, context.access.audit_retention_days)
    if removed:
        logger.info("removed %d audit events older than the retention period", removed)
    return removed


async def _expire_audit_events_hourly(context: ServerContext) -> None:
    while True:
        await asyncio.sleep(AUDIT_EXPIRY_INTERVAL.total_seconds())
        try:
            await run_in_threadpool(expire_audit_events, context)
        except SQLAlchemyError:
            # A database out of reach now may be back at the next interval.
            logger.exception("could not remove the expired audit events")


@asynccontextmanager
async def housekeeping_while_serving(app: FastAPI) -> AsyncIterator[None]:
    """The application's lifespan: expired events go before the first request is served,
    then every hour until the server stops."""
    context: ServerContext = app.state.context
    await run_in_threadpool(expire_audit_events, context)
    hourly = asyncio.create_task(_expire_audit_events_hourly(context))
    try:
        yield
    finally:
        hourly.cancel()
        with suppress(asyncio.CancelledError):
            await hourly

"""Liveness (the process answers) and readiness (the database and Airflow answer too)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from flowui.server.airflow_client import AirflowApiError
from flowui.server.deps import ContextDep

router = APIRouter(prefix="/api/health", tags=["health"])


class Liveness(BaseModel):
    status: str = "ok"


class Readiness(BaseModel):
    status: str  # ready | not_ready
    database: str  # ok, or what went wrong
    airflow: str  # ok, not_configured, or what went wrong


@router.get("/live")
def live() -> Liveness:
    return Liveness()


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
def ready(context: ContextDep) -> JSONResponse:
    """503 until the database answers and Airflow reports its components healthy."""
    try:
        with context.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError as error:
        database = f"error: {type(error).__name__}"
    if context.airflow is None:
        airflow = "not_configured"
    else:
        try:
            with context.airflow.client() as client:
                airflow = "ok" if client.health().healthy else "unhealthy"
        except AirflowApiError as error:
            airflow = f"error: {error}"
    ok = database == "ok" and airflow == "ok"
    report = Readiness(status="ready" if ok else "not_ready", database=database, airflow=airflow)
    return JSONResponse(report.model_dump(), status_code=200 if ok else 503)

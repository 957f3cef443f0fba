"""Every router of the API, included by `main.create_app`."""

from fastapi import APIRouter

from app.routes import health_routes

PUBLIC_PATHS = frozenset({"/health/live", "/health/ready"})

api_router = APIRouter()
api_router.include_router(health_routes.router)

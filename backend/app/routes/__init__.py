"""Every router of the API, included by `main.create_app`."""

from fastapi import APIRouter

from app.routes import (
    admin_routes,
    auth_routes,
    health_routes,
    metrics_routes,
    project_routes,
    report_routes,
    save_route,
    sync_routes,
    task_log_routes,
    task_routes,
    user_routes,
)

# Routes callable without a token; every other route must require one (a test checks it).
PUBLIC_ROUTES = frozenset(
    {
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
        ("POST", "/user/login"),
        ("POST", "/auth/login"),
        ("PATCH", "/auth/refresh"),
    }
)

api_router = APIRouter()
api_router.include_router(health_routes.router)
api_router.include_router(metrics_routes.router)
api_router.include_router(user_routes.router)
api_router.include_router(auth_routes.router)
api_router.include_router(admin_routes.router)
api_router.include_router(sync_routes.router)
api_router.include_router(project_routes.router)
api_router.include_router(task_routes.router)
api_router.include_router(task_log_routes.router)
api_router.include_router(save_route.router)
api_router.include_router(report_routes.router)

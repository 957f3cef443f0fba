"""The reports' steps; `services.report_service` is their entry point."""

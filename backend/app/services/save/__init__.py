"""The batch save (`POST /data/save`); `app.services.data_service` is its entry point."""

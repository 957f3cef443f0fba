"""AceProject integration: the typed client (`client`) over the transport (`transport`), the
services' view of it (`port`), its row DTOs (`dto`), status lists (`statuses`), errors
(`errors`) and circuit breaker (`breaker`)."""

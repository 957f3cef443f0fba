"""AceProject integration: the async client (`client`), its row DTOs (`dto`), errors
(`errors`) and circuit breaker (`breaker`)."""

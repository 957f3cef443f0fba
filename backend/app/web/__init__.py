"""Server-rendered pages: templates, static files, the session cookie."""

"""HTTP entry points: the FastAPI application and its error handling."""

"""Administration: bootstrap keys and users."""

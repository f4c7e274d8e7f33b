"""Local services the project starts itself: PostgreSQL, Spark Connect, Azurite."""

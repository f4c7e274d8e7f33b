"""Core building blocks with no Dagster imports: parsing, state merge, detection, stores, sources."""

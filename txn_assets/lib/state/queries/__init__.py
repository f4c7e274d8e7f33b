"""All SQL of the state database, one module per table family, always parameterised.

Nothing outside `txn_assets.lib.state` writes SQL: Dagster definitions, the runner and the stores
call the functions that run these statements.
"""

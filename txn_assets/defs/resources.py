"""Resources chosen from the environment in one place (the CLI sets these for local runs)."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from txn_assets.resources.postgres import PostgresResource
from txn_assets.resources.rules import RulesResource
from txn_assets.resources.sources import SourceResource
from txn_assets.resources.spark import SparkResource
from txn_assets.resources.stores import StoreResource


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _secret(name: str) -> Any:
    """Secrets stay out of code and config: resolved by Dagster from the environment at run time."""
    return dg.EnvVar(name) if name in os.environ else ""


def resources_from_env() -> dict[str, Any]:
    """All resources, configured from TXN_* / AZURE_* / GOOGLE_* variables (README: Settings)."""
    return {
        "postgres": PostgresResource(url=dg.EnvVar("TXN_DATABASE_URL")),
        "spark": SparkResource(
            remote=_env("TXN_SPARK_REMOTE"), master=_env("TXN_SPARK_MASTER", "local[2]")
        ),
        "stores": StoreResource(
            kind=_env("TXN_STORE", "local"),
            root=_env("TXN_STORE_ROOT", ".state/blob"),
            staging_prefix=_env("TXN_STAGING_PREFIX", "staging"),
            output_prefix=_env("TXN_OUTPUT_PREFIX", "detections"),
            scratch_dir=_env("TXN_SCRATCH_DIR", ".state/scratch"),
            account_url=_env("AZURE_STORAGE_ACCOUNT_URL"),
            account_key=_secret("AZURE_STORAGE_KEY"),
            sas_token=_secret("AZURE_STORAGE_SAS_TOKEN"),
            staging_container=_env("TXN_STAGING_CONTAINER", "staging"),
            output_container=_env("TXN_OUTPUT_CONTAINER", "output"),
            spark_reads_abfss=_env("TXN_SPARK_READS_ABFSS", "false").lower() == "true",
        ),
        "source": SourceResource(
            kind=_env("TXN_SOURCE", "local"),
            transactions_path=_env("TXN_TRANSACTIONS_PATH"),
            importance_path=_env("TXN_IMPORTANCE_PATH"),
            chunk_rows=int(_env("TXN_CHUNK_ROWS", "10000")),
            drive_transactions=_env("TXN_DRIVE_TRANSACTIONS", "transactions.csv"),
            drive_importance=_env("TXN_DRIVE_IMPORTANCE", "CustomerImportance.csv"),
            drive_folder_id=_env("TXN_DRIVE_FOLDER_ID"),
            drive_credentials=_secret("GOOGLE_SERVICE_ACCOUNT_JSON"),
            drive_api_endpoint=_env("TXN_DRIVE_API_ENDPOINT"),
            drive_token_uri=_env("TXN_DRIVE_TOKEN_URI"),
        ),
        "rules": RulesResource(),
    }

"""The resources of a deployment, chosen in one place from its environment (README: Settings).

Each backend is its own resource class: `TXN_STORE` picks the local folder or Azure Blob Storage,
`TXN_SOURCE` the local files or Google Drive, `TXN_SPARK_REMOTE` Spark Connect instead of a
classic session. Secrets are `EnvVar`s, resolved by Dagster at run time and never shown in the UI.
"""

from __future__ import annotations

import json
import os
from typing import Any

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from txn_assets.lib import settings
from txn_assets.resources.automation import AutomationResource
from txn_assets.resources.postgres import PostgresResource
from txn_assets.resources.rules import RulesResource
from txn_assets.resources.sources import (
    GoogleDriveSourceResource,
    LocalFileSourceResource,
    SourceResource,
)
from txn_assets.resources.stores import LocalStoreResource, StoreResource
from txn_assets.spark_modes import spark_config_from_env
from txn_assets.stack import home_from_env, scratch_folder


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _azure_credential() -> Any:
    """dagster-azure's credential: a key or SAS token from the environment, else the default chain."""
    from dagster_azure.blob import (
        AzureBlobStorageDefaultCredential,
        AzureBlobStorageKeyCredential,
        AzureBlobStorageSASTokenCredential,
    )

    if "AZURE_STORAGE_KEY" in os.environ:
        return AzureBlobStorageKeyCredential(key=dg.EnvVar("AZURE_STORAGE_KEY"))
    if "AZURE_STORAGE_SAS_TOKEN" in os.environ:
        return AzureBlobStorageSASTokenCredential(token=dg.EnvVar("AZURE_STORAGE_SAS_TOKEN"))
    return AzureBlobStorageDefaultCredential()


def store_kind() -> str:
    """The technology of the stores in this environment, as the asset graph names it."""
    return "azure" if _env("TXN_STORE", "local") == "azure" else "filesystem"


def source_kind() -> str:
    """The technology of the source files in this environment, as the asset graph names it."""
    return "googledrive" if _env("TXN_SOURCE", "local") == "drive" else "filesystem"


def store_from_env() -> StoreResource:
    """The local folder (default) or Azure Blob Storage (`TXN_STORE=azure`)."""
    common = {
        "staging_prefix": _env("TXN_STAGING_PREFIX", settings.STAGING_PREFIX),
        "output_prefix": _env("TXN_OUTPUT_PREFIX", settings.OUTPUT_PREFIX),
        "scratch_dir": _env("TXN_SCRATCH_DIR", str(scratch_folder(home_from_env()))),
    }
    kind = _env("TXN_STORE", "local")
    if kind == "local":
        return LocalStoreResource(
            root=_env("TXN_STORE_ROOT", str(home_from_env() / "blob")), **common
        )
    if kind == "azure":
        from dagster_azure.blob import AzureBlobStorageResource

        from txn_assets.resources.azure_store import AzureBlobStoreResource

        return AzureBlobStoreResource(
            blob_storage=AzureBlobStorageResource(
                account_url=dg.EnvVar("AZURE_STORAGE_ACCOUNT_URL"), credential=_azure_credential()
            ),
            staging_container=_env("TXN_STAGING_CONTAINER", settings.STAGING_CONTAINER),
            output_container=_env("TXN_OUTPUT_CONTAINER", settings.OUTPUT_CONTAINER),
            spark_reads_abfss=_env("TXN_SPARK_READS_ABFSS", "false").lower() == "true",
            **common,
        )
    raise ValueError(f"TXN_STORE={kind!r}: use 'local' or 'azure'")


def source_from_env() -> SourceResource:
    """Local files (default) or Google Drive (`TXN_SOURCE=drive`)."""
    chunk_rows = int(_env("TXN_CHUNK_ROWS", str(settings.CHUNK_ROWS)))
    kind = _env("TXN_SOURCE", "local")
    if kind == "local":
        folder = home_from_env() / "source"
        return LocalFileSourceResource(
            transactions_path=_env("TXN_TRANSACTIONS_PATH", str(folder / "transactions.csv")),
            importance_path=_env("TXN_IMPORTANCE_PATH", str(folder / "CustomerImportance.csv")),
            chunk_rows=chunk_rows,
        )
    if kind == "drive":
        credentials = (
            dg.EnvVar("GOOGLE_SERVICE_ACCOUNT_JSON")
            if "GOOGLE_SERVICE_ACCOUNT_JSON" in os.environ
            else ""
        )
        return GoogleDriveSourceResource(
            transactions_file=_env("TXN_DRIVE_TRANSACTIONS", "transactions.csv"),
            importance_file=_env("TXN_DRIVE_IMPORTANCE", "CustomerImportance.csv"),
            folder_id=_env("TXN_DRIVE_FOLDER_ID"),
            credentials=credentials,
            api_endpoint=_env("TXN_DRIVE_API_ENDPOINT"),
            token_uri=_env("TXN_DRIVE_TOKEN_URI"),
            chunk_rows=chunk_rows,
        )
    raise ValueError(f"TXN_SOURCE={kind!r}: use 'local' or 'drive'")


def spark_from_env() -> LazyPySparkResource:
    """dagster-pyspark's lazy session, on the settings of this environment."""
    return LazyPySparkResource(spark_config=spark_config_from_env())


def rules_from_env() -> RulesResource:
    """The product's thresholds, or those of TXN_RULES (JSON, e.g. '{"child_min_txns": 5}')."""
    return RulesResource(**json.loads(_env("TXN_RULES", "{}")))


def resources_from_env() -> dict[str, Any]:
    """Every resource the definitions use, for the deployment this environment describes."""
    return {
        "postgres": PostgresResource(url=dg.EnvVar("TXN_DATABASE_URL")),
        "spark": spark_from_env(),
        "stores": store_from_env(),
        "source": source_from_env(),
        "rules": rules_from_env(),
        "automation": AutomationResource(
            look_again_seconds=float(_env("TXN_SENSOR_LOOK_AGAIN_SECONDS", "4"))
        ),
    }

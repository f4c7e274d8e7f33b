"""Mechanism X in Dagster: the producer job stages chunks, adds partitions, records materialisations."""

import dagster as dg

from txn_assets.defs.ingestion.jobs import mechanism_x_job
from txn_assets_tests.defs.conftest import ALL_ASSETS


def _produce(instance, resources, max_chunks):
    defs = dg.Definitions(jobs=[mechanism_x_job], resources=resources)
    config = {
        "ops": {"produce_chunks": {"config": {"interval_seconds": 0, "max_chunks": max_chunks}}}
    }
    return defs.resolve_job_def("mechanism_x_job").execute_in_process(
        instance=instance, run_config=config
    )


def test_producer_stages_chunks_adds_partitions_and_records_materialisations(instance, resources):
    assert _produce(instance, resources, 2).output_for_node("produce_chunks") == 2
    assert instance.get_dynamic_partitions("chunks") == ["000000", "000001"]
    assert instance.get_materialized_partitions(dg.AssetKey("staged_chunk")) == {"000000", "000001"}
    assert resources["stores"].staging().list_keys("staging") == [
        "staging/chunk-000000.csv",
        "staging/chunk-000001.csv",
    ]


def test_producer_resumes_after_a_restart_and_stops_at_the_end(instance, resources):
    _produce(instance, resources, 2)
    assert _produce(instance, resources, 0).output_for_node("produce_chunks") == 4
    assert instance.get_dynamic_partitions("chunks") == [f"{i:06d}" for i in range(6)]
    assert _produce(instance, resources, 0).output_for_node("produce_chunks") == 0


def test_rematerialising_a_staged_chunk_rewrites_identical_bytes(instance, resources):
    _produce(instance, resources, 2)
    before = resources["stores"].staging().get("staging/chunk-000001.csv")
    result = dg.materialize(
        ALL_ASSETS,
        selection=["staged_chunk"],
        partition_key="000001",
        instance=instance,
        resources=resources,
    )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["outcome"].value == "identical"
    assert resources["stores"].staging().get("staging/chunk-000001.csv") == before


def test_materialising_a_chunk_x_has_not_staged_fails_clearly_and_advances_nothing(
    instance, resources
):
    _produce(instance, resources, 2)
    instance.add_dynamic_partitions("chunks", ["000003"])
    result = dg.materialize(
        ALL_ASSETS,
        selection=["staged_chunk"],
        partition_key="000003",
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "chunk 3 has not been staged yet" in failure.step_failure_data.error.message
    # Nothing moved: X's position and the staging store are as the producer left them.
    with resources["postgres"].connect() as conn:
        assert conn.execute("SELECT next_chunk FROM txn.producer").fetchone()[0] == 2
    assert resources["stores"].staging().list_keys("staging") == [
        "staging/chunk-000000.csv",
        "staging/chunk-000001.csv",
    ]

"""How Mechanism Y's sensor uses a tick, so that a deployment can tune it without code."""

import dagster as dg
from pydantic import Field


class AutomationResource(dg.ConfigurableResource):
    """Dagster's daemon evaluates sensors in a fixed 5-second loop, whatever their minimum
    interval: a chunk staged, or a Mechanism Y run ended, just after a tick would wait up to 5 s
    for the next one. A tick that has nothing to request yet, while that can change within
    seconds (a run in flight, Mechanism X staging), looks again for up to `look_again_seconds`:
    at once when a chunk is staged (PostgreSQL LISTEN), else every `poll_seconds`. It stays
    under the daemon's loop (at most 4.5 s: a tick still running at the next loop makes the
    daemon skip the sensor for a whole loop); 0 decides once, as `txn-assets run` does, whose
    own loop waits for chunks."""

    look_again_seconds: float = Field(default=4.0, ge=0, le=4.5)
    poll_seconds: float = Field(default=0.25, ge=0.05)

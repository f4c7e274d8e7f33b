"""How Mechanism Y's sensor uses a tick, so that a deployment can tune it without code."""

import dagster as dg


class AutomationResource(dg.ConfigurableResource):
    """Dagster's daemon evaluates sensors in a fixed 5-second loop, whatever their minimum
    interval: a chunk staged, or a Mechanism Y run ended, just after a tick would wait up to 5 s
    for the next one. A tick that has nothing to request yet, while that can change within
    seconds (a run in flight, Mechanism X staging), looks again for up to `look_again_seconds`:
    at once when a chunk is staged (PostgreSQL LISTEN), else every `poll_seconds`. Keep it
    under the daemon's loop (a tick still running at the next loop delays the next tick); 0
    decides once, as `txn-assets run` does, whose own loop waits for chunks."""

    look_again_seconds: float = 4.0
    poll_seconds: float = 0.25

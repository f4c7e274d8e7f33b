"""Pattern thresholds. Defaults are the product's; tests and small data sets scale them down."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from decimal import Decimal

# The ActionType of each pattern, in patternId order: metadata and reports list them this way.
ACTION_TYPES = ("UPGRADE", "CHILD", "DEI-NEEDED")


@dataclass(frozen=True)
class DetectionRules:
    """Thresholds of the three patterns; comparison direction is fixed by the pattern definitions."""

    # UPGRADE: merchant's cumulative transactions must be strictly greater than this.
    upgrade_min_merchant_txns: int = 50_000
    # UPGRADE: customer's count >= this percentile of counts over the merchant's customers.
    upgrade_count_percentile: float = 0.90
    # UPGRADE: customer's weight <= this percentile of weights over weighted customers.
    upgrade_weight_percentile: float = 0.10
    # CHILD: at least this many transactions with the merchant ...
    child_min_txns: int = 80
    # ... and a mean amount strictly below this.
    child_max_mean_amount: Decimal = Decimal("23")
    # DEI-NEEDED: strictly more distinct female customers than this, and fewer than male ones.
    dei_min_female_customers: int = 100

    def __post_init__(self) -> None:
        for name in ("upgrade_count_percentile", "upgrade_weight_percentile"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        object.__setattr__(self, "child_max_mean_amount", Decimal(str(self.child_max_mean_amount)))

    def fingerprint(self) -> str:
        """Stable text form, stored with the stream so that rules cannot change mid-stream."""
        values = {k: str(v) for k, v in asdict(self).items()}
        return json.dumps(values, sort_keys=True)

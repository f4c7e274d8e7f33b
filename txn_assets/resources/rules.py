"""Pattern thresholds as a resource, so that a deployment can tune them without code."""

import dagster as dg

from txn_assets.lib.rules import DetectionRules


class RulesResource(dg.ConfigurableResource):
    """Defaults are the product's; see DetectionRules for the meaning of each."""

    upgrade_min_merchant_txns: int = 50_000
    upgrade_count_percentile: float = 0.90
    upgrade_weight_percentile: float = 0.10
    child_min_txns: int = 80
    child_max_mean_amount: str = "23"
    dei_min_female_customers: int = 100

    def rules(self) -> DetectionRules:
        """The thresholds as the engine takes them."""
        from decimal import Decimal

        return DetectionRules(
            upgrade_min_merchant_txns=self.upgrade_min_merchant_txns,
            upgrade_count_percentile=self.upgrade_count_percentile,
            upgrade_weight_percentile=self.upgrade_weight_percentile,
            child_min_txns=self.child_min_txns,
            child_max_mean_amount=Decimal(self.child_max_mean_amount),
            dei_min_female_customers=self.dei_min_female_customers,
        )

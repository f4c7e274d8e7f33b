"""Pattern thresholds as a resource, so that a deployment can tune them without code."""

from decimal import Decimal

import dagster as dg

from txn_assets.lib.rules import DetectionRules

_DEFAULT = DetectionRules()


class RulesResource(dg.ConfigurableResource):
    """Defaults are the product's (`DetectionRules`); see it for the meaning of each."""

    upgrade_min_merchant_txns: int = _DEFAULT.upgrade_min_merchant_txns
    upgrade_count_percentile: float = _DEFAULT.upgrade_count_percentile
    upgrade_weight_percentile: float = _DEFAULT.upgrade_weight_percentile
    child_min_txns: int = _DEFAULT.child_min_txns
    child_max_mean_amount: str = str(_DEFAULT.child_max_mean_amount)
    dei_min_female_customers: int = _DEFAULT.dei_min_female_customers

    def rules(self) -> DetectionRules:
        """The thresholds as the engine takes them."""
        return DetectionRules(
            upgrade_min_merchant_txns=self.upgrade_min_merchant_txns,
            upgrade_count_percentile=self.upgrade_count_percentile,
            upgrade_weight_percentile=self.upgrade_weight_percentile,
            child_min_txns=self.child_min_txns,
            child_max_mean_amount=Decimal(self.child_max_mean_amount),
            dei_min_female_customers=self.dei_min_female_customers,
        )

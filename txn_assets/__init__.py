"""txn-assets."""

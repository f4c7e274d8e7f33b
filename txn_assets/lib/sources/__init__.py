"""Sources of transactions.csv and CustomerImportance.csv, read by byte ranges."""

"""Files written without loss: atomic writes, locks, the cache folder, spreadsheet-safe CSV."""

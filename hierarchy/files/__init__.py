"""Files written without loss: atomic writes, locks, spreadsheet-safe CSV."""

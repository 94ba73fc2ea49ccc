"""Store drivers: where image bytes live, chosen per location by URL scheme."""

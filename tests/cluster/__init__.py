"""Several Glimpse nodes, and the faults of what they stand on, through real processes."""

"""Who the caller is (identity) and what they may do (policy)."""

"""The points ledger use cases: members, points, bulk postings, tiers, the customers import."""

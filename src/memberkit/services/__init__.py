"""Use cases that tie the domain rules to files, the store and the integrations."""

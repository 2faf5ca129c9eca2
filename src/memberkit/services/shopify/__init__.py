"""Shopify use cases: writing members' state back to their customers (``push``)."""

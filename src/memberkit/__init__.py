"""memberkit: run a Shopify store's member rewards properly.

The daily rewards update, a points ledger, bulk imports, Klaviyo and Shopify
sync. The core (``domain``, ``services``) knows nothing of the CLI or the web.
"""

__version__ = "0.1.0"

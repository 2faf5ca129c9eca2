"""HTTP clients for the services memberkit talks to (Klaviyo, Shopify)."""

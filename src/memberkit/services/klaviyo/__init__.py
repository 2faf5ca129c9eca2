"""Klaviyo use cases: fetching the profile index, uploading max-value profiles."""

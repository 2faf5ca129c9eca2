"""The daily rewards update: rows, outputs, the two-reader split, the mirror, the Klaviyo sync."""

"""The outbox: event types, writing events with the change they report, listing them."""

"""Images: references, records, configs, and moving them in and out of the store."""

"""The CLI's work, one module per verb group; no click imports here."""

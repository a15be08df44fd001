"""The management plane: tenants, service numbers and users (API and CLI)."""

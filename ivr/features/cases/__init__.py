"""Cases as a controller feature: the API that lists, searches and shows a tenant's cases."""

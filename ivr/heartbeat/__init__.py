"""Controller heartbeats and the cases of a controller that went down (issue 19)."""

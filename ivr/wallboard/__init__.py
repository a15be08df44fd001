"""The live wallboard: per tenant and queue, who waits, the agents by state, today's figures;
a snapshot, then deltas with a sequence number (Server-Sent Events)."""

"""Service discovery: what runs, as the load balancer needs it (HAProxy comes in a later module)."""

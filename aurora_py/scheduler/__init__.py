"""Aurora's scheduler: desired jobs, observed tasks, and the loop between them."""

"""Health checks run by the scheduler side: HTTP(S), TCP and COMMAND (see `checks`)."""

"""Background jobs: the scheduled scans and the alerts they post."""

"""creditbot's front ends: the Slack app and the command line. Uses `ledger` and `faq`; neither imports this."""

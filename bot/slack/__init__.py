"""The bot talking to Slack: the Bolt app, its HTTP server and Socket Mode, and the listeners that translate
Slack payloads."""

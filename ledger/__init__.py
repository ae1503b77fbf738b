"""The ledger: clients, invoices, payments and client credits, with exact money and the domain's rules.

Nothing here imports Slack or the bot.
"""

"""Credit operations beyond issue, apply and reverse (issue 17), one module per family:

- `reversals`: partial reversal and move of an application;
- `wallets`: transfer between clients, refund, write-off (and its undo);
- `lots`: expiry (which credit an application draws on, what expires, the sweep);
- `apply_all`: spreading a client's credit over its open invoices.
Each runs in the caller's unit of work, takes `by: WriteRequest`, records history, keeps idempotency keys and goes
through the approval rule, like `ledger.operations`.
"""

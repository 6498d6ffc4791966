"""Acknowledgements of receipt, routing to the services, status updates and links by SMS.

A request (signalement, callback ticket) writes its messages into the outbox
table in the same transaction as the request itself (`outbox.py`); a sender
task per channel (`sender.py`) delivers them through a `Transport` (`smtp.py`,
`sms_kannel.py`), retrying with back-off while the mail server or the SMS
gateway is away. Texts are files in `templates/`. See docs/operations.md.
"""

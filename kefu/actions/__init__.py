"""Actions: the only code that changes state. One module per area; each public ``do_*`` function is one
transaction (see ``kefu.db.session.action``) that validates, writes, appends its events and publishes
them after the commit."""

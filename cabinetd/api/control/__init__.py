"""The control API for `cabinetctl`, on the Unix socket `api.control_socket` only (DESIGN.md §9).

`server` is the subsystem (socket file, mode, group, uvicorn), `peer` the credential check on every
connection, `app` the endpoints: `readings` and `events` render the cabinet's view (cabinetd/views.py)
and the ledger, `actions` ask the controller's maintenance desk (cabinetd/maintenance.py); `answers`
is what they share (the `Desk` they are handed, bodies, the error shape), `shapes` the JSON they
answer with (documented in docs/cabinetctl.md).
"""

"""The control API for `cabinetctl`, on the Unix socket `api.control_socket` only (DESIGN.md §9).

`server` is the subsystem (socket file, mode, group, uvicorn), `peer` the credential check on every
connection, `app` the endpoints, `views` and `actions` what they read and do, `shapes` the JSON they
answer with (documented in docs/cabinetctl.md).
"""

"""The update helper `cabinetd-update`: installs a signed release the daemon has handed over, as root,
and rolls it back when the new daemon does not come up (docs/packaging.md, "The update helper").

The daemon stays unprivileged: it downloads and verifies a release and writes a request into its
updates directory; cabinetd-update.path starts cabinetd-update.service, which runs this package. It
checks everything again itself, reaches dpkg and systemd only through `commands`, and answers with
an outcome file the daemon reads on its next start.

Everything the helper runs is imported when it starts: `dpkg -i` replaces the package's virtual
environment, this code included, while the helper is still running.
"""

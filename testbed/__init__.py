"""What the tests and the benchmarks both run: the drivers on the simulator's fakes, the cloud's harness.

The rigs here (lock boards on ptys, a pty badge reader, the emulated USB bus, a faulty TCP proxy, a
private PostgreSQL cluster, the sync client at fast pacing, the process-crash soak) are the
repository's own tools, imported from the repository's root as tests/ and bench/ are; no installed
package ships them (setup.cfg lists only the cabinet, the cloud and the wire models). bench/ imports
them from here and nothing from tests/ (.importlinter); the cabinet's own simulator, which the daemon
runs for `make demo`, is cabinetd/sim/.
"""

"""The simulated cabinet: physical models behind the same lowest layers the tests use.

The production drivers run unchanged against these models (pty serial ports, mock GPIO pins, an
emulated USB bus), so `make demo` and the test suite exercise the same code.
"""

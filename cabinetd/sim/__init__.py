"""The simulated cabinet: physical models behind the same lowest layers the tests use.

The production drivers run unchanged against these models (pty serial ports, mock GPIO pins, an
emulated USB bus), so `make demo` and the test suite exercise the same code. Only a cabinet with
`hal.type = "sim"` imports this package (cabinetd/cabinet.py imports it where it chooses), so a real
cabinet never loads the models nor gpiozero's mock pins; hal never imports it (.importlinter).
"""

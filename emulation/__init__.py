"""Bit-exact emulation of the firmware (a FirmwareSpec) in numpy, and chunked emulation of files."""

from triginfer.emulation.emulator import Emulator, OverflowReport

__all__ = ["Emulator", "OverflowReport"]

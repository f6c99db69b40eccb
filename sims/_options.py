"""What the simulator's commands share: the ``--target`` option and the error report.

``banditcurr simulate`` and ``banditcurr predict`` both take ``--target`` (a float in
[0, 1] or "auto"); every command reports a refused input the same way (exit status 2).
"""

import sys

from banditcurr._params import add_option, argument, check_arguments

TARGET = argument("target", low=0.0, high=1.0,
                  doc="target mean held-out accuracy for steps-to-target, or auto = uniform's final")


def add_target(parser):
    """``--target``: its help lists the bounds of TARGET and 'auto'."""
    add_option(parser, TARGET, default="auto", type=str, metavar="{auto,FLOAT}")


def parse_target(text, owner):
    """"auto", or the float in ``text`` checked against TARGET (a ValueError naming
    ``owner``, e.g. "banditcurr simulate", otherwise)."""
    if text == "auto":
        return text
    try:
        return check_arguments(owner, (TARGET,), {"target": float(text)})["target"]
    except ValueError:
        raise ValueError(f"The 'target' argument of {owner} must be 'auto' or {TARGET.allowed()}. "
                         f"Got {text!r} instead.") from None


def report(error, ledger=None):
    """Print a refused input as the commands do and return their exit status, 2. A
    ``CalibrationError`` says which ``ledger`` could not be calibrated on."""
    calibrate = sys.modules.get(__package__ + ".calibrate")  # not imported: not a CalibrationError
    calibration = calibrate is not None and isinstance(error, calibrate.CalibrationError)
    prefix = f"cannot calibrate on {ledger}: " if calibration else ""
    print(f"error: {prefix}{error}", file=sys.stderr)
    return 2

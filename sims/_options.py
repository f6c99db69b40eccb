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


def _problem(owner, value):
    return f"The 'target' argument of {owner} must be 'auto' or {TARGET.allowed()}. Got {value!r} instead."


def check_target(target, owner):
    """"auto", or ``target`` (a number) checked against TARGET; otherwise a TypeError or
    ValueError naming ``owner`` (e.g. "compare")."""
    if isinstance(target, str) and target == "auto":
        return target
    try:
        return check_arguments(owner, (TARGET,), {"target": target})["target"]
    except (TypeError, ValueError) as error:
        raise type(error)(_problem(owner, target)) from None


def parse_target(text, owner):
    """The ``--target`` ``text`` of the command ``owner`` (e.g. "banditcurr simulate"):
    "auto" or a float, checked; a ValueError naming the command otherwise."""
    try:
        return check_target(text if text == "auto" else float(text), owner)
    except ValueError:
        raise ValueError(_problem(owner, text)) from None


def report(error, ledger=None):
    """Print a refused input as the commands do and return their exit status, 2. A
    ``CalibrationError`` says which ``ledger`` could not be calibrated on."""
    calibrate = sys.modules.get(__package__ + ".calibrate")  # not imported: not a CalibrationError
    calibration = calibrate is not None and isinstance(error, calibrate.CalibrationError)
    prefix = f"cannot calibrate on {ledger}: " if calibration else ""
    print(f"error: {prefix}{error}", file=sys.stderr)
    return 2

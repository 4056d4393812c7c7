"""The tests' switch for running every vireo-vmm confined.

With VIREO_TEST_SANDBOX=on (`meson test --setup sandbox` sets it, and puts this
folder on PYTHONPATH so Python loads this file at start-up), every vireo-vmm a
Python test starts through the subprocess module gets `-sandbox on` (with
VIREO_TEST_SANDBOX_OPTS appended, e.g. ",spawn=deny") right after its program
name: the test scripts, run-guest and guest-suite keep their own command lines.
A value other than "on" leaves everything as it is.
"""
import os
import subprocess

_MODE = os.environ.get("VIREO_TEST_SANDBOX", "")


def _sandboxed(args):
    opt = "on" + os.environ.get("VIREO_TEST_SANDBOX_OPTS", "")
    if isinstance(args, (list, tuple)) and args:
        prog = os.path.basename(str(args[0]))
        if prog == "vireo-vmm" and "-sandbox" not in args:
            return [args[0], "-sandbox", opt] + list(args[1:])
    return args


if _MODE == "on":
    _popen_init = subprocess.Popen.__init__

    def _init(self, args, *a, **kw):
        _popen_init(self, _sandboxed(args), *a, **kw)

    subprocess.Popen.__init__ = _init

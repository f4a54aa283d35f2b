"""The signals that stop seqgen: Ctrl-C (SIGINT), and SIGTERM or SIGUSR1, which ``kill``,
``timeout`` and batch schedulers send before they kill a job (SLURM: SIGTERM; SIGUSR1, a common
warning of pre-emption, does not exist on Windows).

A command stops on any of them as on Ctrl-C: an exception unwinds the work, so what was being
written is removed and nothing is left half-written (``stop_on_signals``). Training defers
them: it saves a resumable snapshot first (``seqgen.training.trainer``). A stopped process
exits with 128 + the signal's number, the Unix convention (130 for Ctrl-C, 143 for SIGTERM).
"""

import signal

SIGUSR1: int | None = getattr(signal, "SIGUSR1", None)
# the signals seqgen stops on besides Ctrl-C, which Python turns into KeyboardInterrupt itself
TERMINATING = tuple(s for s in (signal.SIGTERM, SIGUSR1) if s is not None)
STOPPING = (signal.SIGINT, *TERMINATING)


class Stopped(KeyboardInterrupt):
    """A signal stopped the command at once, as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal_name(signum)}")
        self.exit_code = stop_exit_code(signum)


def signal_name(signum: int) -> str:
    """A signal as a message names it: Ctrl-C for SIGINT, else its name (SIGTERM)."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def stop_exit_code(signum: int) -> int:
    """The exit code of a process a signal stopped: 128 + its number."""
    return 128 + signum


def stop_at_once(signum: int, frame: object) -> None:
    """A signal handler: stop as Ctrl-C does (KeyboardInterrupt, or Stopped naming the
    signal)."""
    raise KeyboardInterrupt if signum == signal.SIGINT else Stopped(signum)


def stop_on_signals() -> None:
    """Make SIGTERM and SIGUSR1 stop this process as Ctrl-C does (the command line calls it
    once, as it starts)."""
    for signum in TERMINATING:
        signal.signal(signum, stop_at_once)

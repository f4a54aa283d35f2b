"""``key=value`` options from the command line (``--cell-opt``, ``--codec-opt``)."""

from seqgen.errors import UsageError


def parse_option_value(text: str) -> object:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"`` -> True; anything else stays a string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_options(pairs: list[str], flag: str = "--cell-opt") -> dict[str, object]:
    """``["activation=relu", "init=identity"]`` -> ``{"activation": "relu", "init": ...}``."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"bad {flag} {pair!r}: expected key=value, for example "
                             f"{flag} name=value")
        options[key.strip()] = parse_option_value(value.strip())
    return options


def check_option_names(given: dict[str, object], known: dict[str, object], what: str) -> None:
    """Unknown option names are a usage error that lists the known ones with their defaults."""
    unknown = [k for k in given if k not in known]
    if unknown:
        listed = ", ".join(f"{k}={v}" for k, v in known.items()) or "none"
        raise UsageError(f"{what} has no option {', '.join(map(repr, unknown))}; "
                         f"its options: {listed}")

"""Peak resident memory of this process, from /proc (Linux), for the benchmarks.

getrusage's ru_maxrss cannot serve: it keeps the parent's peak across fork and
exec, and it cannot be reset.
"""


def status_bytes(field):
    """A memory field of /proc/self/status (VmRSS, VmHWM, ...), in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak():
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux 4.0+), and
    return that RSS in bytes."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return status_bytes("VmRSS")

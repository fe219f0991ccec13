"""Ctrl-C during a long fit: KeyboardInterrupt within about a second, nothing left running."""

import sys
import textwrap

import pytest

from conftest import interrupt_after_start

SCRIPT = textwrap.dedent("""
    import sys, threading, time, warnings
    import numpy as np
    from gmmcore import GaussianMixture
    n_threads = int(sys.argv[1])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400_000, 24))
    gm = GaussianMixture(8, covariance_type="full", max_iter=100000, tol=0.0,
                         init_params="random_from_data", n_threads=n_threads)
    print("fitting", flush=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm.fit(X)
    except KeyboardInterrupt:
        caught = time.monotonic()
        busy = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        cpu0 = time.process_time()
        time.sleep(0.5)
        # nothing keeps computing once the interrupt has propagated
        print("interrupted", caught, time.process_time() - cpu0, len(busy), flush=True)
        sys.exit(0)
    print("finished", flush=True)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery is POSIX")
@pytest.mark.parametrize("n_threads", [1, 2])
def test_ctrl_c_interrupts_a_long_fit_quickly(n_threads):
    returncode, out, sent = interrupt_after_start(SCRIPT, str(n_threads), timeout=30)
    assert returncode == 0, out
    words = out.split()
    assert words[0] == "interrupted", out
    caught, cpu_after = float(words[1]), float(words[2])
    assert caught - sent < 1.0, f"KeyboardInterrupt took {caught - sent:.2f} s"
    assert cpu_after < 0.1, f"{cpu_after:.2f} s of CPU used after the interrupt"


STRESS = textwrap.dedent("""
    import random, signal, threading, time, warnings
    import numpy as np
    from gmmcore import GaussianMixture
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30_000, 8))

    def interrupt(*args):
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, interrupt)
    random.seed(1)
    caught = 0
    for trial in range(150):
        signal.setitimer(signal.ITIMER_REAL, random.uniform(0.0005, 0.02))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                GaussianMixture(4, covariance_type=("full", "diag")[trial % 2], max_iter=10**6,
                                tol=0.0, n_threads=2, init_params="random_from_data").fit(X)
        except KeyboardInterrupt:
            caught += 1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    # the pool still works, and gives the same fit as one thread
    a = GaussianMixture(4, n_threads=2, random_state=0).fit(X)
    b = GaussianMixture(4, n_threads=1, random_state=0).fit(X)
    print("caught", caught, bool(np.array_equal(a.means_, b.means_)), flush=True)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGALRM is POSIX")
def test_interrupts_at_any_moment_of_a_threaded_pass_leave_nothing_locked():
    # Ctrl-C lands between any two Python instructions of the calling thread, which
    # computes and folds chunks itself: none of those moments may leave the run's
    # lock held, a helper waiting forever, or the pool unusable
    import subprocess

    proc = subprocess.run([sys.executable, "-c", STRESS], capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["caught", "150", "True"], proc.stdout

"""pytest plugin: the `training_watch` fixture, so a user's test can watch their own loop.

    def test_my_loop(training_watch):
        w = training_watch(model, optimizer)
        train(model, optimizer)          # unchanged
        w.assert_clean()                 # or let the fixture assert it at teardown
"""

from __future__ import annotations

import pytest

from assertions.watch import watch


@pytest.fixture
def training_watch():
    """Start a watch on a model and optimizer; at teardown, stop it and fail the test on error
    findings that were not asserted (warnings are listed only with assert_clean(strict=True)).
    The checks that did not run are named in one line on stdout (shown with the test's output)."""
    started = []
    asserted = set()

    def start(model, optimizer=None, **options):
        w = watch(model, optimizer, **options).start()
        original = w.assert_clean

        def assert_clean(strict: bool = False):
            asserted.add(id(w))
            original(strict=strict)

        w.assert_clean = assert_clean
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
    for w in started:
        if w.inactive:
            print(w.inactive_note())
        if id(w) not in asserted and w.errors:
            note = f"\n{w.inactive_note()}" if w.inactive else ""
            pytest.fail("\n".join(str(f) for f in w.findings) + note, pytrace=False)

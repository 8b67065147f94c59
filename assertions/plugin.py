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
    started = []
    asserted = set()

    def start(model, optimizer, **options):
        w = watch(model, optimizer, **options).start()
        original = w.assert_clean

        def assert_clean():
            asserted.add(id(w))
            original()

        w.assert_clean = assert_clean
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
    for w in started:
        if id(w) not in asserted and w.findings:
            pytest.fail("\n".join(str(f) for f in w.findings), pytrace=False)

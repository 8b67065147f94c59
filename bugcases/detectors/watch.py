"""`watch`: this suite's own checks (assertions.watch), with every check on, no reference run."""

from __future__ import annotations

from assertions import watch as _watch
from bugcases.detectors import Attaching


class Watch(Attaching):
    name = "watch"
    ours = True
    doc = "assertions.watch with every check; options as the loop passes them (criterion=, accumulation_steps=, ...)"

    def make(self, model, optimizer=None, **options):
        return _watch(model, optimizer, **options)


DETECTOR = Watch()

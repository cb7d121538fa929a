"""Departures: gone only once every publisher that served the work has been missing long
enough; a restarted one (other gids) does not count."""
from dream_runtime.graph_departures import Departures


def test_gone_after_the_wait_and_only_if_all_that_served_are_missing():
    watch = Departures(wait=2.0)
    watch.note('goal', {b'a', b'b'})
    watch.note('goal', {b'c'})                      # noted once: later ones do not replace
    assert not watch.gone('goal', {b'b', b'c'}, now=0.0)
    assert not watch.gone('goal', {b'c'}, now=1.0)   # missing since 1.0 ...
    assert not watch.gone('goal', {b'c'}, now=2.5)
    assert watch.gone('goal', {b'c'}, now=3.0)       # ... for 2 s: a restart does not count
    assert not watch.gone('goal', {b'a'}, now=4.0)   # back: the clock starts again
    assert not watch.gone('goal', set(), now=5.0)
    assert watch.gone('goal', set(), now=7.0)


def test_a_key_served_by_nobody_or_forgotten_is_never_gone():
    watch = Departures(wait=0.0)
    watch.note('empty', set())
    assert not watch.gone('empty', set(), now=100.0)
    assert not watch.gone('unknown', set(), now=100.0)
    watch.note('goal', {b'a'})
    watch.forget('goal')
    assert not watch.gone('goal', set(), now=100.0) and watch.keys() == ['empty']

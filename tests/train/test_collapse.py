"""Collapse rules on synthetic metric histories."""
import math

from biggan.config.train import CollapseConfig
from biggan.train.collapse import CollapseMonitor


def feed_losses(m: CollapseMonitor, pairs, start: int = 1):
    for i, (d, g) in enumerate(pairs, start):
        m.observe_losses(i, d, g)
    return m.collapse


def test_healthy_history_is_stable():
    m = CollapseMonitor(CollapseConfig(d_loss_floor=0.05, g_loss_ceiling=5.0, loss_window=5))
    assert feed_losses(m, [(1.2 - 0.001 * i, 1.0 + 0.01 * i) for i in range(200)]) is None
    for t, s in [(0, 1.0), (100, 1.6), (200, 2.5), (300, 3.9)]:          # growth, but no 10x jump
        assert m.observe_sigmas(t, {"linear": s, "blocks.0.0.conv1": 1.0}) is None
    for t, fid in [(100, 80.0), (200, 50.0), (300, 60.0), (400, 45.0)]:  # noisy, never 2x the best
        assert m.observe_fid(t, fid) is None
    assert not m.collapsed and m.fid_best == 45.0


def test_nonfinite_loss_marks_its_iteration():
    m = CollapseMonitor(CollapseConfig())
    c = feed_losses(m, [(1.0, 1.0)] * 9 + [(float("nan"), 1.0)] + [(1.0, 1.0)] * 5)
    assert (c.rule, c.iteration, c.detected_at) == ("nonfinite", 10, 10)
    m2 = CollapseMonitor(CollapseConfig())
    assert feed_losses(m2, [(1.0, float("inf"))]).rule == "nonfinite"


def test_nonfinite_rule_can_be_switched_off():
    m = CollapseMonitor(CollapseConfig(nonfinite=False))
    assert feed_losses(m, [(float("nan"), 1.0)] * 3) is None


def test_fid_rule_needs_patience_consecutive_bad_evaluations_and_reports_the_onset():
    m = CollapseMonitor(CollapseConfig(fid_factor=2.0, fid_patience=2))
    seq = [(1000, 40.0), (2000, 30.0), (3000, 70.0), (4000, 35.0),   # one bad eval, then recovery
           (5000, 65.0), (6000, 90.0), (7000, 20.0)]
    fired = [m.observe_fid(t, f) for t, f in seq]
    c = m.collapse
    assert fired[:5] == [None] * 5 and fired[5] is c
    assert (c.rule, c.iteration, c.detected_at) == ("fid", 5000, 6000)
    assert m.fid_best == 30.0                   # later observations change nothing
    assert m.observe_fid(8000, 1.0) is None and m.fid_best == 30.0


def test_fid_rule_off_with_zero_factor():
    m = CollapseMonitor(CollapseConfig(fid_factor=0.0))
    for t, f in [(1, 10.0), (2, 100.0), (3, 200.0), (4, 300.0)]:
        m.observe_fid(t, f)
    assert not m.collapsed


def test_sigma_jump_between_consecutive_checks():
    m = CollapseMonitor(CollapseConfig(sigma_jump=10.0))
    assert m.observe_sigmas(0, {"linear": 1.0, "b": 2.0}) is None
    assert m.observe_sigmas(100, {"linear": 9.0, "b": 2.0}) is None       # 9x: below the factor
    assert m.observe_sigmas(200, {"linear": 80.0, "b": 2.1}) is None      # 8.9x relative to the last check
    c = m.observe_sigmas(300, {"linear": 80.0, "b": 25.0})                # 11.9x for layer b
    assert (c.rule, c.iteration) == ("sigma_jump", 300) and "layer b " in c.detail


def test_sigma_non_finite_is_a_collapse():
    m = CollapseMonitor(CollapseConfig())
    m.observe_sigmas(0, {"linear": 1.0})
    assert m.observe_sigmas(10, {"linear": math.inf}).rule == "nonfinite"


def test_loss_rule_d_near_zero_while_g_explodes():
    cfg = CollapseConfig(d_loss_floor=0.05, g_loss_ceiling=5.0, loss_window=4)
    m = CollapseMonitor(cfg)
    healthy = [(1.0, 1.0)] * 10
    d_wins_but_g_fine = [(0.01, 2.0)] * 6          # D near zero alone is not enough
    collapse = [(0.0, 12.0)] * 4
    assert feed_losses(m, healthy + d_wins_but_g_fine) is None
    c = feed_losses(m, collapse, start=17)
    # window means at 18 (two collapsed iterations): d 0.005 < 0.05, g 7 > 5
    assert (c.rule, c.iteration) == ("loss", 18)
    off = CollapseMonitor(CollapseConfig(d_loss_floor=0.05, g_loss_ceiling=0.0, loss_window=4))
    assert feed_losses(off, collapse * 3) is None


def test_state_round_trip_continues_the_same_verdict():
    cfg = CollapseConfig(fid_factor=2.0, fid_patience=3, loss_window=3)
    a = CollapseMonitor(cfg)
    a.observe_fid(1, 10.0)
    a.observe_fid(2, 25.0)
    a.observe_sigmas(2, {"linear": 2.0})
    feed_losses(a, [(1.0, 1.0), (0.9, 1.1)])
    b = CollapseMonitor(cfg)
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict()
    b.observe_fid(3, 30.0)
    c = b.observe_fid(4, 31.0)
    assert (c.rule, c.iteration, c.detected_at) == ("fid", 2, 4)
    restored = CollapseMonitor(cfg)
    restored.load_state_dict(b.state_dict())
    assert restored.collapse == c

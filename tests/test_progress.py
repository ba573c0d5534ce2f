"""orchestration/progress.py, the one progress bar (run, sweep, validate, cbp, ocular dominance):
redrawn in place on a terminal, whole lines elsewhere when asked, nothing when disabled."""
import io
import time

from lolpim.orchestration.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_off_a_terminal_log_lines_writes_the_first_update_then_one_line_per_tenth():
    out = io.StringIO()
    bar = Progress("cbp", total=20, delay_s=0.0, stream=out, log_lines=True, log_every=0.1)
    for i in range(20):
        bar.step(f"epoch {i + 1}")
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 11 and "\r" not in out.getvalue()
    assert lines[0].startswith("cbp [#") and "5.0% epoch 1" in lines[0] and "10.0% epoch 2" in lines[1]
    assert "100.0% epoch 20" in lines[-1]


def test_log_every_zero_writes_every_update():
    out = io.StringIO()
    bar = Progress("validate", total=3, delay_s=0.0, stream=out, log_lines=True, log_every=0)
    for i, module in enumerate(("a", "b", "c")):
        bar.update(i, module)
    bar.close()
    assert [line.split("] ")[1].split()[1] for line in out.getvalue().splitlines()] == ["a", "b", "c"]


def test_on_a_terminal_the_line_is_redrawn_and_ended_once():
    out = Terminal()
    bar = Progress("run", total=4, delay_s=0.0, stream=out, log_lines=True)
    bar.update(1, "x")
    bar.close()
    bar.close()                      # idempotent: one newline
    text = out.getvalue()
    assert text.startswith("\rrun [") and "25.0% x" in text and text.endswith("\033[K\n") and text.count("\n") == 1


def test_heartbeat_redraws_without_updates_and_stops_at_close():
    out = Terminal()
    bar = Progress("validate", delay_s=0.0, stream=out, heartbeat_s=0.02)
    bar.update(0, "slow module")
    time.sleep(0.15)
    bar.close()
    drawn = out.getvalue().count("\r")
    assert drawn >= 3                # the first draw and heartbeats
    time.sleep(0.05)
    assert out.getvalue().count("\r") == drawn


def test_disabled_or_too_early_writes_nothing():
    out = Terminal()
    for bar in (Progress("a", total=2, stream=out, enabled=False, heartbeat_s=0.01),
                Progress("b", total=2, stream=out, delay_s=60.0)):
        bar.update(1)
        bar.close()
    assert out.getvalue() == ""

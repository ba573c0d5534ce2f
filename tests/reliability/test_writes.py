"""Every output file of every command is written whole or not at all (issue 26, classes 2 and
the worst cases 1 and 3): written beside its name and renamed onto it, so a symbolic link
planted at the name is replaced (its target never opened), and a write that fails (a full disk,
no permission) leaves the previous file as it was and is one line naming the file and the OS's
reason, exit code 2. The sweep store repairs a torn or corrupt file in place, with no copy.

The commands run in this process (main()) at their smallest sizes; a full disk is simulated by
a file object that writes half of what it is given, then fails with ENOSPC, and once for real
with a small tmpfs where an unprivileged user namespace allows one (Linux).
"""
import errno
import json
import os
import shutil
import subprocess
import sys

import pytest

from lolpim.orchestration.cli import main

RUN = ["run", "--executor", "inline", "--set", "model=llama2-7b", "--set", "workload.source=fixed",
       "--set", "workload.requests=4", "--set", "workload.input_tokens=512", "--set", "workload.output_tokens=8"]
SWEEP = """[set]
model = "llama2-7b"
"workload.source" = "fixed"
"workload.requests" = 4
"workload.input_tokens" = 512
"workload.output_tokens" = 8
[grid]
system = ["lolpim"]
modules = [8, 16]
"""
# command -> (argv before --out, the files it writes there); the slow ones take seconds each
COMMANDS = {
    "validate": (["validate", "--area", "hardware_pim"], ["validation.json", "validation.csv"]),
    "hebbian": (["hebbian", "multiply"], ["results.json", "curves.csv", "learning_curves.png"]),
    "plasticity": (["plasticity", "stdp", "--model", "graupner-brunel", "--pairs", "2"],
                   ["plasticity_stdp.csv", "plasticity_stdp.json", "plasticity_stdp.png"]),
    "cbp": (["cbp", "--epochs", "2", "--pretrain-epochs", "1", "--hidden", "8", "8", "--quiet"],
            ["runs.csv", "summary.csv", "results.json", "weights_binary_cbp_seed0.npz", "curves.png"]),
    "run": (RUN + ["--timeline", "{out}/t.json"],
            ["comparison.json", "comparison.csv", "comparison.png", "requests.csv", "t.json"]),
    "plot": (["plot", "{results}"], ["points.csv", "throughput_vs_modules.png", "speedup.png"]),
}
FAST = ("validate", "hebbian")
PARAMS = [c if c in FAST else pytest.param(c, marks=pytest.mark.slow) for c in COMMANDS]


def _argv(command, out, tmp_path):
    results = tmp_path / "sweep.jsonl"
    if command == "plot" and not results.exists():
        (tmp_path / "s.toml").write_text(SWEEP)
        assert main(["sweep", str(tmp_path / "s.toml"), "--results", str(results), "--serial", "--json"]) == 0
    argv, names = COMMANDS[command]
    return [a.format(out=out, results=results) for a in argv] + ["--out", str(out)], names


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]


@pytest.mark.parametrize("command", PARAMS)
def test_a_planted_symlink_is_replaced_never_written_through(command, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    argv, names = _argv(command, out, tmp_path)
    victims = {}
    for name in names:
        victims[name] = tmp_path / f"victim-{name}"
        victims[name].write_text("precious\n")
        (out / name).symlink_to(victims[name])
    capsys.readouterr()
    assert main(argv) == 0, capsys.readouterr().err
    for name in names:
        assert victims[name].read_text() == "precious\n", name
        assert (out / name).is_file() and not (out / name).is_symlink() and (out / name).stat().st_size > 50, name
    assert _leftovers(out) == []


class _FullDisk:
    """A file object that writes half of the first thing it is given, then fails as a full disk does."""

    def __init__(self, fh):
        self.fh = fh

    def write(self, data):
        self.fh.write(data[:len(data) // 2])
        self.fh.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


@pytest.mark.parametrize("command", PARAMS)
def test_a_full_disk_keeps_the_previous_files_and_says_so_in_one_line(command, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    argv, names = _argv(command, out, tmp_path)
    for name in names:
        (out / name).write_text("previous good file\n")
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _FullDisk(real_fdopen(fd, *a, **k)))
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    monkeypatch.undo()
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("lolpim: error: cannot write ") and "No space left on device" in last, err
    assert "previous file there is kept unchanged" in last and any(str(out / n) in last for n in names), last
    for name in names:
        assert (out / name).read_text() == "previous good file\n", name
    assert _leftovers(out) == []


def test_an_interrupted_write_leaves_the_previous_file(tmp_path):
    from lolpim.orchestration.results import atomic_open
    path = tmp_path / "t.json"
    path.write_text("old\n")
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(path) as fh:
            fh.write("half")
            raise KeyboardInterrupt
    assert path.read_text() == "old\n" and _leftovers(tmp_path) == []


def _userns_tmpfs() -> bool:
    if not sys.platform.startswith("linux") or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k none /mnt"],
                           capture_output=True, timeout=10)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _userns_tmpfs(), reason="needs an unprivileged user namespace with tmpfs (Linux)")
def test_a_really_full_disk_keeps_the_previous_timeline(tmp_path):
    """The worst case of the issue: `run --timeline t.json` with the disk nearly full truncated a
    good t.json. Here a 96 KiB tmpfs holds a good 40 KiB t.json; the new trace (~150 KiB) cannot fit."""
    lolpim = shutil.which("lolpim", path=os.path.dirname(sys.executable))
    good = json.dumps({"traceEvents": [{"ph": "i", "name": "x" * 40_000}]})
    (tmp_path / "good.json").write_text(good)
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (f'mount -t tmpfs -o size=96k none "{disk}" && cp "{tmp_path}/good.json" "{disk}/t.json" && '
              f'{lolpim} {" ".join(RUN)} --timeline "{disk}/t.json"; echo "rc=$?"; '
              f'cmp -s "{tmp_path}/good.json" "{disk}/t.json" && echo same; ls -A "{disk}"')
    out = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    assert "rc=2" in out.stdout and "same" in out.stdout, (out.stdout, out.stderr)
    assert out.stdout.split()[-1] == "t.json", out.stdout     # no temporary file left behind
    err = out.stderr.strip().splitlines()
    assert "Traceback" not in out.stderr and "No space left on device" in err[-1] and "t.json" in err[-1], out.stderr


# ------------------------------------------------------------------ the sweep store's repair

def test_the_sweep_store_is_repaired_in_place(tmp_path, capsys):
    from lolpim.orchestration.sweep import ResultsFile
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": "a", "status": "ok"}\nnot a record\n{"id": "c", "status": "ok"}\n{"id": "d"')
    inode = path.stat().st_ino
    with ResultsFile(path) as store:
        assert [r["id"] for r in store.records()] == ["a", "c"]
    assert path.read_bytes() == b'{"id": "a", "status": "ok"}\n{"id": "c", "status": "ok"}\n'
    assert path.stat().st_ino == inode                       # the same file: never copied
    assert (tmp_path / "r.jsonl.corrupt").read_bytes() == b"not a record\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl", "r.jsonl.corrupt", "r.jsonl.lock"]


def test_a_repair_on_a_full_disk_fails_cleanly(tmp_path, monkeypatch):
    from lolpim.core.errors import UserError
    from lolpim.orchestration.sweep import ResultsFile
    path = tmp_path / "r.jsonl"
    data = b'{"id": "a", "status": "ok"}\nnot a record\n{"id": "c", "status": "ok"}\n'
    path.write_bytes(data)

    def full(fd, view):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(UserError, match=r"cannot write .*r\.jsonl\.corrupt: No space left on device"):
        with ResultsFile(path):
            pass
    monkeypatch.undo()
    assert path.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl", "r.jsonl.corrupt", "r.jsonl.lock"]

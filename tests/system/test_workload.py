"""Request traces: seeded, drawn from the published length statistics, loadable from CSV."""
import numpy as np
import pytest

from lolpim.core.errors import ParameterError
from lolpim.models.llm.workload import dataset_names, dataset_trace, fixed_trace, load_dataset, load_trace_csv


def test_every_published_dataset_is_available():
    assert set(dataset_names()) == {"longbench-qmsum", "longbench-musique", "lveval-multifieldqa", "lveval-loogle-sd"}


@pytest.mark.parametrize("name", ["longbench-qmsum", "longbench-musique", "lveval-multifieldqa", "lveval-loogle-sd"])
def test_dataset_traces_follow_the_published_statistics(name):
    """LoL-PIM v3 Table II: drawn lengths stay within [min, max]; the mean lands within 10%
    (clipping a normal at the published bounds shifts it a little)."""
    stats = load_dataset(name)
    trace = dataset_trace(name, 4000, seed=3)
    assert trace.input_tokens.min() >= stats.input_min and trace.input_tokens.max() <= stats.input_max
    assert abs(trace.input_tokens.mean() / stats.input_mean - 1) < 0.10
    assert trace.context_limit >= trace.max_context()


def test_traces_are_reproducible_and_seed_dependent():
    a = dataset_trace("longbench-qmsum", 50, seed=1)
    b = dataset_trace("longbench-qmsum", 50, seed=1)
    c = dataset_trace("longbench-qmsum", 50, seed=2)
    assert np.array_equal(a.input_tokens, b.input_tokens) and np.array_equal(a.output_tokens, b.output_tokens)
    assert not np.array_equal(a.input_tokens, c.input_tokens)


def test_poisson_arrivals_have_the_requested_rate():
    trace = fixed_trace(5000, 100, 10, arrival="poisson", arrival_rate_per_s=20.0, seed=4)
    assert np.all(np.diff(trace.arrival_s) >= 0)
    assert abs(len(trace) / trace.arrival_s[-1] / 20.0 - 1) < 0.05


def test_closed_loop_arrivals_are_all_at_zero():
    assert np.all(fixed_trace(10, 100, 10).arrival_s == 0)


def test_csv_round_trip_and_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("input_tokens,output_tokens,arrival_s\n300,20,0.5\n100,10,0.0\n")
    trace = load_trace_csv(path)
    assert trace.input_tokens.tolist() == [100, 300]   # sorted by arrival
    assert trace.arrival_s.tolist() == [0.0, 0.5]
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt,output_tokens\n1,2\n")
    with pytest.raises(ParameterError, match="lacks column\\(s\\) input_tokens"):
        load_trace_csv(bad)
    worse = tmp_path / "worse.csv"
    worse.write_text("input_tokens,output_tokens\nmany,2\n")
    with pytest.raises(ParameterError, match="line 2"):
        load_trace_csv(worse)


def test_unknown_dataset_lists_what_exists():
    with pytest.raises(ParameterError, match="unknown dataset 'longbench'; available: longbench-musique"):
        dataset_trace("longbench", 5)

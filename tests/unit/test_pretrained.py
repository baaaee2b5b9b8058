"""The shipped reference results and checkpoints: every saved weight file loads with weights_only=True and
reproduces the test accuracy recorded with it; the results file is whole and its records complete."""
import pytest

from course_utils import experiments
from course_utils.data import balanced_subset
from course_utils.pretrained import _local_results_dir, load_pretrained, pretrained_record, reference_results
from course_utils.train import evaluate

RESULTS = _local_results_dir() / "mnist_sweep.jsonl"
pytestmark = pytest.mark.skipif(not RESULTS.is_file(), reason="no results/mnist_sweep.jsonl in this checkout")


def saved_runs():
    if not RESULTS.is_file():
        return []
    runs = []
    for r in experiments.load_results(RESULTS):
        path = experiments.weights_path(_local_results_dir() / "weights", r["model"], r["train_size"], r["seed"],
                                        r.get("variant", "default"))
        if path.is_file():
            runs.append(r)
    return runs


def test_every_record_is_complete():
    records = reference_results("mnist_sweep")
    assert records, "the reference file is empty"
    for r in records:
        for key in experiments.RESULT_FIELDS:
            assert key in r, (experiments.run_key(r), key)
        assert 0 <= r["train_acc"] <= 1 and r["profile"] == "reference" and r["test_size"] == 10000
    keys = [experiments.run_key(r) for r in records]
    assert len(keys) == len(set(keys)), "a run appears twice"


@pytest.mark.parametrize("record", saved_runs(), ids=lambda r: "{model}-{variant}-n{train_size}-seed{seed}".format(**r))
def test_checkpoint_reproduces_its_recorded_test_accuracy(record, mnist_test):
    model = load_pretrained(record["model"], train_size=record["train_size"], seed=record["seed"],
                            variant=record["variant"])
    assert not model.training
    test = balanced_subset(mnist_test, record["test_size"], seed=0)
    acc = evaluate(model, test).accuracy
    assert acc == pytest.approx(record["test_acc"], abs=2.5 / len(test))   # within 2 images (BLAS rounding)


def test_pretrained_record_names_what_is_there():
    with pytest.raises(ValueError, match="sizes there"):
        pretrained_record("lenet", train_size=12345)

"""The shipped reference results and pretrained checkpoints (notebooks 05-08).

`reference_results("mnist_sweep")` returns every run of the reference sweep (results/mnist_sweep.jsonl, made
by `python -m course_admin.reference mnist-sweep`); `load_pretrained("vit")` returns a model with the weights
of that sweep's run on all 55,000 training images (seed 0), and `pretrained_record("vit")` the run's record
(its recorded test accuracy among others). Other sizes: `load_pretrained("vit", train_size=600)`.

Files are read from the repository's results/ folder when the package runs from a clone; otherwise (e.g. on
Colab, where the package is installed without the results) they are downloaded once from the course
repository into the data cache. Checkpoints are loaded with weights_only=True.
"""
import os
from pathlib import Path

from . import BRANCH, REPO_URL
from .checkpoints import load_checkpoint, load_model_state
from .models import build_model

FULL_SIZE = 55000     # all of MNIST's 60,000 training images minus the 5,000 held out for validation


def _local_results_dir():
    env = os.environ.get("COURSE_RESULTS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "results"   # a clone: course_utils/ beside results/


def _cache_dir():
    from .data import default_root
    return default_root().parent / "results"


def results_path(relative):
    """The local path of a file under results/, downloading it from the repository if it is not here."""
    for folder in (_local_results_dir(), _cache_dir()):
        if (folder / relative).is_file():
            return folder / relative
    url = REPO_URL.replace("https://github.com/", "https://raw.githubusercontent.com/") + f"/{BRANCH}/results/{relative}"
    target = _cache_dir() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        import urllib.request
        tmp = target.with_suffix(target.suffix + ".part")
        urllib.request.urlretrieve(url, tmp)
        os.replace(tmp, target)
    except Exception as e:
        raise FileNotFoundError(
            f"results/{relative} is neither in {_local_results_dir()} nor in {_cache_dir()}, and downloading it "
            f"from {url} failed ({type(e).__name__}: {e}). Run from a clone of the course repository, or set "
            f"$COURSE_RESULTS_DIR to a folder holding it.") from e
    return target


def reference_results(name="mnist_sweep"):
    """Every record of a shipped results file (results/<name>.jsonl)."""
    from .experiments import load_results
    return load_results(results_path(f"{name}.jsonl"))


def grid_variant(records, model):
    """The recipe variant the reference grid uses for `model`: the one of its largest training set."""
    runs = [r for r in records if r["model"] == model]
    if not runs:
        raise ValueError(f"No reference run of {model!r}.")
    largest = max(int(r["train_size"]) for r in runs)
    return [r for r in runs if int(r["train_size"]) == largest][-1].get("variant", "default")


def pretrained_record(model, *, train_size=FULL_SIZE, seed=0, variant=None, results="mnist_sweep"):
    """The reference record of the run whose weights `load_pretrained` loads (variant: default the grid's)."""
    records = reference_results(results)
    variant = variant or grid_variant(records, model)
    found = [r for r in records if r["model"] == model and int(r["train_size"]) == train_size
             and int(r["seed"]) == seed and r.get("variant", "default") == variant]
    if not found:
        sizes = sorted({int(r["train_size"]) for r in records if r["model"] == model})
        raise ValueError(f"No reference run of {model!r} ({variant}) on {train_size:,} images with seed {seed} in "
                         f"results/{results}.jsonl (sizes there: {sizes}).")
    return found[-1]


def load_pretrained(model, *, train_size=FULL_SIZE, seed=0, variant=None, results="mnist_sweep", device="cpu"):
    """A model of the reference sweep with its trained weights, in eval mode: "vit", "cnn", "lenet" or "mlp"."""
    from .experiments import weights_path
    record = pretrained_record(model, train_size=train_size, seed=seed, variant=variant, results=results)
    relative = weights_path("weights", model, train_size, seed, record.get("variant", "default"))
    path = results_path(relative.as_posix())
    net = build_model(model, **record.get("model_kwargs", {}))
    load_model_state(net, load_checkpoint(path), path)
    return net.to(device).eval()

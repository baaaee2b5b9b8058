"""Every wrong solution in wrong_solutions/ is caught: its check FAILs, never raises, and the hint names the mistake."""
import importlib
import pkgutil

import pytest
import torch

from course_utils import checks
from tests.notebooks import wrong_solutions

MODULES = [importlib.import_module(f"{wrong_solutions.__name__}.{m.name}")
           for m in pkgutil.iter_modules(wrong_solutions.__path__)]
CASES = [pytest.param(mod, i, id=f"{mod.__name__.rsplit('.', 1)[-1]}-{i}-{hint[:30]}")
         for mod in MODULES for i, (hint, _) in enumerate(mod.WRONG)]


@pytest.mark.parametrize("module,index", CASES)
def test_wrong_solution_fails_with_its_hint(module, index, capsys):
    hint, args = module.WRONG[index]
    state = torch.random.get_rng_state()
    result = getattr(checks, module.CHECK)(*args)           # must not raise
    assert torch.equal(state, torch.random.get_rng_state()), "the check moved the global random state"
    assert not result.passed, f"not caught: {result.message}"
    assert hint.lower() in result.message.lower(), f"hint should name {hint!r}: {result.message}"
    assert capsys.readouterr().out.count("\n") == 1          # one line per check


def test_every_check_of_01_to_05_has_wrong_solutions():
    covered = {m.CHECK for m in MODULES}
    expected = {"check_img_to_patch_hwc", "check_patch_embedding", "check_attention", "check_split_heads",
                "check_multi_head_attention", "check_transformer_block", "check_vit", "check_conv_output_size",
                "check_lenet", "check_lenet_flatten", "check_warmup_cosine", "check_digit_augmentation",
                "check_train_step"}
    assert expected <= covered and all(len(m.WRONG) >= 5 for m in MODULES)

"""Saving and loading: atomic writes, safe loads (weights_only=True), and clear errors (notebook 05_training)."""
import os

import torch


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read, or that belongs to another model or training setup."""


def atomic_save(obj, path):
    """torch.save to a temporary file, then rename: a crash mid-write leaves the previous file intact."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def save_weights(model, path):
    """Save a model's state dict (as CPU tensors) atomically."""
    return atomic_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)


def load_checkpoint(path, map_location="cpu"):
    """Load a checkpoint safely (weights_only=True), with a clear error if it is corrupt."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:
        raise CheckpointError(
            f"Could not read checkpoint {os.fspath(path)!r}: it is corrupt or incomplete "
            f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}). "
            f"Delete the file to train this run from the start."
        ) from e


def load_model_state(model, weights, path="<state dict>"):
    """model.load_state_dict(weights), with an error that says which file and what to do."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        lines = str(e).splitlines()
        raise CheckpointError(
            f"Checkpoint {os.fspath(path)!r} holds weights for a different model "
            f"({lines[1].strip() if len(lines) > 1 else e}). "
            f"Build the model it was saved from, or delete the file / pass another checkpoint path."
        ) from e
    return model


def load_weights(model, path):
    """Load the model weights of a checkpoint written by `fit` (or a plain state dict) into `model`."""
    state = load_checkpoint(path)
    return load_model_state(model, state.get("model", state), path)


def changed_settings(saved, now):
    """{name: (saved value, current value)} for every setting that differs: the "saved vs now" of our errors."""
    saved = saved or {}
    return {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}

"""Counting multiply-adds (notebook 04_cnn_baselines).

One multiply-add (MAC) is `a * b + c`: the unit a convolution, a Linear layer or a matrix product is made
of. `count_macs(model, input_shape)` runs one forward pass with hooks and adds up, per call:

    Conv2d              output elements x (C_in / groups) x kH x kW
    Linear              output elements x in_features
    attention           2 x B x N x N x D   (q k^T and weights @ v; course MultiHeadSelfAttention and
                        nn.MultiheadAttention, whose in/out projections are counted here too)

Left out, as is usual (fvcore, ptflops and PyTorch's FlopCounterMode count the same way): biases,
norms, activations, pooling and softmax. They are cheap next to the products, and limited by memory
traffic rather than arithmetic. FLOPs are about 2 x MACs (a multiply and an add).
"""
import torch
from torch import nn

from .attention import MultiHeadSelfAttention


def _attention_macs(module, args, kwargs, out):
    """MACs of one attention call, from its inputs."""
    if isinstance(module, MultiHeadSelfAttention):
        x = args[0] if args else kwargs["x"]
        B, N, D = x.shape
        return 2 * B * N * N * D                                  # q k^T: (N, d) x (d, N) per head; weights @ v the same
    q = args[0] if args else kwargs["query"]                      # nn.MultiheadAttention
    k = args[1] if len(args) > 1 else kwargs.get("key", q)
    batch_first = module.batch_first and q.dim() == 3
    L, S = (q.shape[-2], k.shape[-2]) if batch_first else (q.shape[0], k.shape[0])
    B = q.numel() // (L * q.shape[-1])
    E = module.embed_dim
    projections = B * (L * E * E + S * module.kdim * E + S * module.vdim * E + L * E * E)  # q, k, v in; out
    return projections + 2 * B * L * S * E


def _module_macs(module, args, kwargs, out):
    if isinstance(module, (MultiHeadSelfAttention, nn.MultiheadAttention)):
        return _attention_macs(module, args, kwargs, out)
    if isinstance(out, (tuple, list)):
        out = out[0]
    if isinstance(module, nn.modules.conv._ConvNd):
        kernel = module.weight[0].numel()                         # (C_in / groups) x kH x kW per output
        if module.transposed:                                     # weight (C_in, C_out / groups, kH, kW)
            return args[0].numel() * kernel                       # each input element is spread over a kernel
        return out.numel() * kernel
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    return 0


def _leaves(model):
    """(name, module) for every leaf module, plus attention modules (their products are not in a leaf)."""
    inside_mha = set()
    for _name, m in model.named_modules():
        if isinstance(m, nn.MultiheadAttention):                  # its layers run as functions, not calls
            inside_mha.update(id(c) for c in m.modules() if c is not m)
    for name, m in model.named_modules():
        if id(m) in inside_mha:
            continue
        if isinstance(m, (MultiHeadSelfAttention, nn.MultiheadAttention)) or not any(True for _ in m.children()):
            yield name, m


def layer_summary(model, input_shape):
    """One row per leaf layer in the order it runs: name, type, output shape, parameters, MACs.

    Args:
        input_shape: the full input shape with its batch axis, e.g. (1, 1, 28, 28) for one MNIST digit.
    Returns:
        list of dicts with keys "layer", "type", "output_shape", "params", "macs". A row named like
        "blocks.0.attn" with type "attention" holds the q k^T and weights @ v products of that layer.
    """
    shape = tuple(input_shape)
    param = next(model.parameters(), None)
    x = torch.zeros(shape, device=param.device if param is not None else "cpu",
                    dtype=param.dtype if param is not None else torch.float32)
    rows, handles = [], []

    def hook(name):
        def record(module, args, kwargs, out):
            is_attention = isinstance(module, (MultiHeadSelfAttention, nn.MultiheadAttention))
            first = out[0] if isinstance(out, (tuple, list)) else out
            own = module.parameters() if isinstance(module, nn.MultiheadAttention) or not is_attention else []
            rows.append({"layer": name or type(module).__name__,
                         "type": "attention" if is_attention else type(module).__name__,
                         "output_shape": tuple(first.shape) if torch.is_tensor(first) else None,
                         "params": sum(p.numel() for p in own),
                         "macs": _module_macs(module, args, kwargs, out)})
        return record

    for name, m in _leaves(model):
        handles.append(m.register_forward_hook(hook(name), with_kwargs=True))
    was_training = model.training
    model.eval()                                                  # BatchNorm must not update its statistics
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return rows


def count_macs(model, input_shape):
    """Multiply-adds of one forward pass on a zero input of `input_shape`, e.g. (1, 1, 28, 28)."""
    return sum(r["macs"] for r in layer_summary(model, input_shape))


def macs_by_type(model, input_shape):
    """{"Conv2d": ..., "Linear": ..., "attention": ...}: where a model's multiply-adds go."""
    totals = {}
    for r in layer_summary(model, input_shape):
        if r["macs"]:
            totals[r["type"]] = totals.get(r["type"], 0) + r["macs"]
    return totals

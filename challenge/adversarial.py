"""Adversarial training on the word embeddings: each training step also fits the batch with
every message's embedded tokens pushed a small distance in the direction that raises its loss
the most, so the classifier cannot hang its decision on a few exact embedding values.

The method is Miyato, Dai & Goodfellow (2017), "Adversarial training methods for
semi-supervised text classification" (ICLR): for a message with embedded tokens ``v`` and loss
``L``, the perturbation is ``r = eps * g / ||g||_2`` with ``g = dL/dv`` taken over the whole
message (all its positions and dimensions together), and the step minimises
``L(v) + L(v + r)``, ``r`` held constant. It works through a forward hook on the model's one
embedding module, so any model built around an ``nn.Embedding`` gets it without a change.
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor, nn


def batch_dim(ids_shape: tuple[int, ...], embedded: Tensor) -> int | None:
    """Which dimension of the embedding's output is the batch: 0 when the model embedded the
    (B, T) ids as they are, 1 when it embedded their transpose (T, B) (time major, as the
    reference does), None when it embedded something else. A square batch (B == T) is told
    apart by the memory layout: ``ids.t()`` is not contiguous."""
    shape = tuple(embedded.shape)
    if shape == tuple(ids_shape) and (shape[0] != shape[-1] or embedded.is_contiguous()):
        return 0
    if len(ids_shape) == 2 and shape == tuple(ids_shape)[::-1]:
        return 1
    return None


def per_row_direction(grad: Tensor, batch: int | None) -> Tensor:
    """``grad`` (the loss's gradient at the embedding's output) scaled to unit L2 norm per
    message, the messages along dimension ``batch``; with ``batch`` None, each token's vector
    is scaled to unit norm instead. Zero rows stay zero."""
    if batch is None:
        norm = grad.norm(dim=-1, keepdim=True)                      # (..., 1)
    else:
        other = [d for d in range(grad.dim()) if d != batch]
        norm = grad.pow(2).sum(dim=other, keepdim=True).sqrt()     # (B, 1, 1) or (1, B, 1)
    return grad / norm.clamp_min(1e-12)


def adversarial_loss(embedding: nn.Embedding, compute_loss: Callable[[], Tensor], eps: float,
                     ids_shape: tuple[int, ...]) -> Tensor:
    """Clean plus adversarial loss of one batch; the clean part's gradients are already in the
    parameters' ``.grad`` when this returns.

    ``compute_loss()`` runs the model on the batch and returns its mean loss; it is called
    twice, once clean and once with the embedding's output moved by ``eps`` along
    :func:`per_row_direction`. The clean loss is back-propagated here (one backward gives the
    parameters' gradients and the perturbation's direction), so the caller must have zeroed the
    gradients before and must call ``backward()`` on the result, which adds the adversarial
    part's. The value returned is clean + adversarial loss; only the adversarial part carries
    a graph.
    """
    seen: dict[str, Tensor | int | None] = {}

    def capture(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        output.retain_grad()
        seen["output"], seen["batch"] = output, batch_dim(ids_shape, inputs[0])

    handle = embedding.register_forward_hook(capture)
    try:
        clean = compute_loss()
    finally:
        handle.remove()
    clean.backward()
    output = seen.get("output")
    if not isinstance(output, Tensor) or output.grad is None:
        return clean.detach().requires_grad_()   # it never reached the embedding: no push
    r = eps * per_row_direction(output.grad.detach(), seen["batch"])  # shaped like output

    def push(module: nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> Tensor:
        return out + r if out.shape == r.shape else out

    handle = embedding.register_forward_hook(push)
    try:
        adversarial = compute_loss()
    finally:
        handle.remove()
    return adversarial + clean.detach()


"""The ranking loss of paper eq. (5) with a trainable temperature, over global batches.

Eq. (5), for fused queries f_i and target summaries m_i (unit vectors), h(x, y) = exp(x.y/tau):

    L = - sum_i log [ h(f_i, m_i) / sum_{j != i} ( h(f_i, m_j) + h(f_j, m_i) ) ]

i.e. both retrieval directions in one denominator, which leaves the positive pair out (the
"decoupled" form of InfoNCE). We average over the batch instead of summing, so the learning
rate does not depend on the batch size. `loss="clip"` gives the usual symmetric InfoNCE
(positive included, the two directions averaged) for comparison.

Across processes the embeddings are all-gathered *with* gradients (open_clip's
gather_with_grad): every process scores its own rows against the global batch, and the
gather's backward sums the gradients that other processes' rows send to this one's
embeddings. With DDP averaging the parameter gradients, training is then exactly
single-process training on the global batch.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

MAX_SCALE = 100.0  # CLIP's clamp: tau >= 0.01 keeps the logits finite in fp16


def world() -> tuple[int, int]:
    """(rank, world size) of the default process group, or (0, 1) without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_features(x: torch.Tensor) -> torch.Tensor:
    """(b, d) local rows -> (W*b, d) rows of all processes in rank order, differentiable."""
    rank, size = world()
    if size == 1:
        return x
    import torch.distributed.nn.functional as dist_fn

    return torch.cat(dist_fn.all_gather(x.contiguous()), dim=0)


class ContrastiveLoss(nn.Module):
    def __init__(self, temperature: float = 0.1, learnable: bool = True, kind: str = "eq5") -> None:
        super().__init__()
        if kind not in ("eq5", "clip"):
            raise ValueError(f"unknown loss {kind!r}")
        self.kind = kind
        # Learned as log(1/tau), CLIP-style: positive, and the step size is scale-free.
        self.logit_scale = nn.Parameter(
            torch.tensor(math.log(1.0 / temperature)), requires_grad=learnable
        )

    @property
    def temperature(self) -> float:
        return float(1.0 / self.scale().detach())

    def scale(self) -> torch.Tensor:
        return self.logit_scale.exp().clamp(max=MAX_SCALE)

    def forward(self, queries: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean loss over this process's rows, against every process's rows."""
        q, m = queries.float(), targets.float()
        rank, _ = world()
        q_all, m_all = gather_features(q), gather_features(m)
        b = q.shape[0]
        labels = torch.arange(b, device=q.device) + rank * b
        s = self.scale()
        fm = s * q @ m_all.T  # row i: f_i . m_j  (query i against every target)
        mf = s * m @ q_all.T  # row i: f_j . m_i  (target i against every query)
        if self.kind == "clip":
            return 0.5 * (F.cross_entropy(fm, labels) + F.cross_entropy(mf, labels))
        pos = fm.gather(1, labels[:, None])[:, 0]
        off = F.one_hot(labels, fm.shape[1]).bool()
        neg = torch.cat([fm.masked_fill(off, -torch.inf), mf.masked_fill(off, -torch.inf)], 1)
        return (torch.logsumexp(neg, dim=1) - pos).mean()


def reference_eq5(f: torch.Tensor, m: torch.Tensor, tau: float) -> float:
    """Eq. (5) term by term, as printed (then / B): the tests' yardstick."""
    h = lambda x, y: math.exp(float(x @ y) / tau)  # noqa: E731
    total = 0.0
    for i in range(len(f)):
        den = sum(h(f[i], m[j]) + h(f[j], m[i]) for j in range(len(f)) if j != i)
        total -= math.log(h(f[i], m[i]) / den)
    return total / len(f)

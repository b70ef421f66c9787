"""Hypernetworks that generate chosen parameters of a main network per task (kdsalbox's
`models/hnets.py`): chunked, simple and single-layer.

Each produces, for one task, a flat vector of every generated value; it is split into the
generated parameters and the main network runs with them through
`torch.func.functional_call`. All other parameters of the main network are shared between
tasks; so are its buffers (BatchNorm running statistics).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from visionflow.models.catalog import SALIENCY_HYPERNETWORKS


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _mlp(sizes: Sequence[int], outputs: int) -> nn.Sequential:
    """Linear + ReLU for each step of `sizes`, then a Linear to `outputs` (hypnettorch's HMLP)."""
    layers: list[nn.Module] = []
    for cin, cout in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(cin, cout), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], outputs))


class HyperNetwork(nn.Module):
    """Per-task weights for the parameters of `model` under the `generated` name prefixes.

    Holds a copy of `model` whose generated parameters are set to None (no longer parameters),
    so they can only come from the hypernetwork: run the copy through `forward` only.
    Subclasses say how a task's values are made (`flat_weights`) and which of their own
    parameters belong to single tasks (`task_parameters`) or are shared (`hnet_shared_parameters`);
    `settings` names their keyword arguments (the config's `model.hnet` keys they use).
    """

    settings: tuple[str, ...] = ()

    def __init__(self, model: nn.Module, generated: Sequence[str], tasks: int) -> None:
        super().__init__()
        if tasks < 1:
            raise ValueError(f"need tasks >= 1, got {tasks}")
        model = copy.deepcopy(model)
        names = [n for n, _ in model.named_parameters()]
        for prefix in generated:
            if not any(_under(n, prefix) for n in names):
                raise ValueError(f"no parameter of the model lies under {prefix!r}")
        self.generated_shapes = {
            n: p.shape for n, p in model.named_parameters() if any(_under(n, g) for g in generated)
        }
        if not self.generated_shapes:
            raise ValueError("`generated` names no parameter prefix")
        for name in self.generated_shapes:
            owner, _, leaf = name.rpartition(".")
            model.get_submodule(owner)._parameters[leaf] = None  # named_parameters() skips it
        self.model = model
        self.num_tasks = tasks
        self.num_outputs = sum(s.numel() for s in self.generated_shapes.values())

    def task_index(self, task: int | Tensor) -> int:
        """The one task id of `task` (an int, or a tensor whose ids must all be equal)."""
        if torch.is_tensor(task):
            ids = task.reshape(-1)
            if ids.numel() == 0:
                raise ValueError("empty task id tensor")
            if bool((ids != ids[0]).any()):
                found = sorted(set(ids.tolist()))
                raise ValueError(f"a batch must hold a single task, found task ids {found}")
            task = int(ids[0])
        if not 0 <= task < self.num_tasks:
            raise IndexError(f"task id {task} outside 0..{self.num_tasks - 1}")
        return task

    def flat_weights(self, task: int | Tensor) -> Tensor:
        """All generated values of `task` as one vector of `num_outputs`."""
        raise NotImplementedError

    def weights_for(self, task: int | Tensor) -> dict[str, Tensor]:
        """The generated parameters of `task`, by the model's parameter names."""
        sizes = [s.numel() for s in self.generated_shapes.values()]
        pieces = self.flat_weights(task).split(sizes)
        return {
            name: piece.view(shape)
            for (name, shape), piece in zip(self.generated_shapes.items(), pieces, strict=True)
        }

    def forward(self, task: int | Tensor, x: Tensor) -> Tensor:
        """Run the model on `x` with the weights of `task` (one task per batch)."""
        return functional_call(self.model, self.weights_for(task), (x,))

    def shared_parameters(self, prefix: str = "") -> list[nn.Parameter]:
        """The model's own, task-independent parameters (only those under `prefix` if given)."""
        return [p for n, p in self.model.named_parameters() if not prefix or _under(n, prefix)]

    def task_parameters(self) -> list[nn.Parameter]:
        """Hypernetwork parameters of which each task uses its own part."""
        raise NotImplementedError

    def hnet_shared_parameters(self) -> list[nn.Parameter]:
        """Hypernetwork parameters every task uses."""
        raise NotImplementedError

    def hnet_parameters(self) -> list[nn.Parameter]:
        """All hypernetwork parameters."""
        return [*self.task_parameters(), *self.hnet_shared_parameters()]

    def freeze_shared(self, prefix: str, frozen: bool = True) -> None:
        """(Un)freeze the shared model parameters under `prefix`, e.g. "encoder"."""
        params = self.shared_parameters(prefix)
        if not prefix or not params:
            raise ValueError(f"no shared parameter lies under {prefix!r}")
        for p in params:
            p.requires_grad_(not frozen)

    def freeze_for_catchup(self, frozen: bool = True) -> None:
        """(Un)freeze everything but the task parameters (the original's FreezeHNETShared)."""
        for p in (*self.hnet_shared_parameters(), *self.shared_parameters()):
            p.requires_grad_(not frozen)


class ChunkedHyperNetwork(HyperNetwork):
    """hypnettorch's ChunkedHMLP: a learned task embedding is concatenated with each of
    `num_chunks` learned chunk embeddings; one MLP maps every such pair to `chunk_size` values;
    the chunks, concatenated, are trimmed to the generated size. Defaults are the original's:
    task embedding 256, chunk 65536, chunk embedding 16, hidden 4 x 512."""

    settings = ("task_embedding", "chunk_size", "chunk_embedding", "hidden")

    def __init__(
        self,
        model: nn.Module,
        generated: Sequence[str],
        tasks: int,
        task_embedding: int = 256,
        chunk_size: int = 65536,
        chunk_embedding: int = 16,
        hidden: Sequence[int] = (512, 512, 512, 512),
    ) -> None:
        super().__init__(model, generated, tasks)
        if chunk_size < 1:
            raise ValueError(f"need chunk_size >= 1, got {chunk_size}")
        self.chunk_size = chunk_size
        self.num_chunks = math.ceil(self.num_outputs / chunk_size)
        self.task_embeddings = nn.Parameter(torch.randn(tasks, task_embedding))
        self.chunk_embeddings = nn.Parameter(torch.randn(self.num_chunks, chunk_embedding))
        self.mlp = _mlp([chunk_embedding + task_embedding, *hidden], chunk_size)

    def flat_weights(self, task: int | Tensor) -> Tensor:
        embedding = self.task_embeddings[self.task_index(task)]
        inputs = torch.cat((self.chunk_embeddings, embedding.expand(self.num_chunks, -1)), dim=1)
        return self.mlp(inputs).reshape(-1)[: self.num_outputs]

    def task_parameters(self) -> list[nn.Parameter]:
        return [self.task_embeddings]

    def hnet_shared_parameters(self) -> list[nn.Parameter]:
        return [self.chunk_embeddings, *self.mlp.parameters()]


class SimpleHyperNetwork(HyperNetwork):
    """hypnettorch's HMLP: the task embedding through the hidden layers, then one Linear to
    every generated value at once."""

    settings = ("task_embedding", "hidden")

    def __init__(
        self,
        model: nn.Module,
        generated: Sequence[str],
        tasks: int,
        task_embedding: int = 256,
        hidden: Sequence[int] = (512, 512, 512, 512),
    ) -> None:
        super().__init__(model, generated, tasks)
        self.task_embeddings = nn.Parameter(torch.randn(tasks, task_embedding))
        self.mlp = _mlp([task_embedding, *hidden], self.num_outputs)

    def flat_weights(self, task: int | Tensor) -> Tensor:
        return self.mlp(self.task_embeddings[self.task_index(task)])

    def task_parameters(self) -> list[nn.Parameter]:
        return [self.task_embeddings]

    def hnet_shared_parameters(self) -> list[nn.Parameter]:
        return list(self.mlp.parameters())


class SingleLayerHyperNetwork(HyperNetwork):
    """The original's SingleLayerHNET: the task's one-hot vector through one bias-free Linear,
    i.e. a table with one column of independent values per task (nn.Linear's init). Every
    parameter belongs to a single task."""

    def __init__(self, model: nn.Module, generated: Sequence[str], tasks: int) -> None:
        super().__init__(model, generated, tasks)
        self.table = nn.Linear(tasks, self.num_outputs, bias=False)

    def flat_weights(self, task: int | Tensor) -> Tensor:
        return self.table.weight[:, self.task_index(task)]

    def task_parameters(self) -> list[nn.Parameter]:
        return [self.table.weight]

    def hnet_shared_parameters(self) -> list[nn.Parameter]:
        return []


HYPERNETWORKS: dict[str, type[HyperNetwork]] = dict(
    zip(
        SALIENCY_HYPERNETWORKS,
        (ChunkedHyperNetwork, SimpleHyperNetwork, SingleLayerHyperNetwork),
        strict=True,
    )
)

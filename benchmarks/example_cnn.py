"""The PyTorch MNIST example network (the paper's CNN) exactly as written there.

One copy for the benchmarks that race robustloss against the workflow users write today
(time_to_detect.py, train_throughput.py). The benchmarks run as scripts, so their folder is
on ``sys.path`` and ``from example_cnn import ExampleCNN`` finds this module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ExampleCNN(nn.Module):
    """The PyTorch MNIST example network (``nn.Dropout``, ReLU before max-pool)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return self.fc2(x)

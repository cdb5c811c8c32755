"""Baseline: a small two-layer convolutional network trained for two epochs with SGD."""

from __future__ import annotations

import csv
from pathlib import Path

from evaluate import load_split, report, require_data

SEED = 0
EPOCHS = 2
BATCH = 64


def main() -> None:
    require_data()
    # torch is imported after the data check so a missing download is named first.
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    x_train, y_train, x_test, _ = load_split()

    def tensor(images):
        return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0).sub(0.5).div(0.5)

    train_x, train_y, test_x = tensor(x_train), torch.from_numpy(y_train).long(), tensor(x_test)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        total = 0.0
        for start in range(0, len(order), BATCH):
            batch = order[start:start + BATCH]
            optimiser.zero_grad()
            loss = loss_fn(model(train_x[batch]), train_y[batch])
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        print(f"epoch {epoch + 1}: train loss {total / len(order):.4f}", flush=True)

    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(test_x[start:start + 1000]).argmax(dim=1) for start in range(0, len(test_x), 1000)])

    path = Path("predictions.csv")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "label"])
        writer.writerows(enumerate(int(label) for label in predicted))
    report(path)


if __name__ == "__main__":
    main()

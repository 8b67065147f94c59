"""The watch inside trainers that own the loop: Lightning's and Hugging Face's, on tiny CPU
models. Each trainer trains a correct model (no error) and one with a planted bug (caught).
Skipped with the reason when the optional extra is not installed (pip install ".[integrations]")."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

pytestmark = pytest.mark.slow  # importing either trainer takes seconds


def _data(n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, generator=g)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


@pytest.mark.parametrize("frozen", [False, True], ids=["correct", "all-frozen"])
def test_lightning_callback_watches_fit(tmp_path, frozen):
    pl = pytest.importorskip("lightning.pytorch", reason='needs Lightning: pip install ".[integrations]"')
    from assertions.integrations.lightning import WatchCallback

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
            if frozen:
                self.net.requires_grad_(False)
                self.net[2].weight.requires_grad_(True)

        def training_step(self, batch, _):
            x, y = batch
            return F.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.net[0].parameters() if frozen else self.parameters(), lr=0.1)

    torch.manual_seed(0)
    callback = WatchCallback()
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[callback],
                         default_root_dir=tmp_path)
    trainer.fit(Module(), DataLoader(TensorDataset(*_data()), batch_size=16, shuffle=True))
    w = callback.watch
    assert w.step == 8
    if frozen:
        assert w.fired("frozen-parameters").step == 0
    else:
        assert w.errors == [], w.findings


class _Pairs(Dataset):
    def __init__(self):
        self.x, self.y = _data()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}


class _TinyModel(nn.Module):
    """A model as the Trainer wants it: forward(**batch) returns the loss first."""

    def __init__(self, softmax):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
        self.softmax = softmax
        self.criterion = nn.CrossEntropyLoss()

    def forward(self, x, labels=None):
        logits = self.net(x)
        if self.softmax:
            logits = logits.softmax(dim=1)
        return {"loss": self.criterion(logits, labels), "logits": logits}


@pytest.mark.parametrize("softmax", [False, True], ids=["correct", "softmax-before-loss"])
def test_transformers_callback_watches_train(tmp_path, softmax):
    transformers = pytest.importorskip("transformers", reason='needs transformers: pip install ".[integrations]"')
    from assertions.integrations.transformers import WatchCallback

    torch.manual_seed(0)
    model = _TinyModel(softmax)
    callback = WatchCallback(criterion=model.criterion)
    args = transformers.TrainingArguments(output_dir=str(tmp_path), max_steps=6, per_device_train_batch_size=8,
                                          gradient_accumulation_steps=2, learning_rate=0.1, report_to=[],
                                          use_cpu=True, save_strategy="no", logging_strategy="no",
                                          disable_tqdm=True)
    transformers.Trainer(model=model, args=args, train_dataset=_Pairs(), callbacks=[callback]).train()
    w = callback.watch
    assert w.step == 6 and w.accumulation_steps == 2
    if softmax:
        assert w.fired("softmax-before-cross-entropy").step == 0
    else:
        assert w.errors == [], w.findings


@pytest.mark.parametrize("zero_grad", [True, False], ids=["correct", "missing-zero-grad"])
def test_the_watch_takes_accelerates_prepared_optimizer(zero_grad):
    """`accelerator.prepare` wraps the optimizer (AcceleratedOptimizer); the watch reads the torch
    optimizer inside it, whose hooks see the steps the wrapper makes."""
    accelerate = pytest.importorskip("accelerate", reason='needs accelerate: pip install ".[integrations]"')
    from assertions import watch

    torch.manual_seed(0)
    accelerator = accelerate.Accelerator(cpu=True)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    model, optimizer = accelerator.prepare(model, torch.optim.Adam(model.parameters(), lr=1e-3))
    x, y = _data(32)
    with watch(model, optimizer) as w:
        for i in range(4):
            if zero_grad:
                optimizer.zero_grad()
            accelerator.backward(F.cross_entropy(model(x[i * 8:(i + 1) * 8]), y[i * 8:(i + 1) * 8]))
            optimizer.step()
    assert w.step == 4
    if zero_grad:
        assert not w.errors, w.findings
    else:
        assert w.fired("missing-zero-grad").step == 1

"""ApolloResearch/e2e_sae#70: gradient accumulation without dividing the loss by the step count.

Source: https://github.com/ApolloResearch/e2e_sae/pull/70 ("Divide loss by grad accumulation
steps", merged as d5c434b), which "reverts the change made in #68 which incorrectly removed this.
We need to do this division because our losses include means." Between #68 (c73f387) and #70
the SAE training loop did

    loss, loss_dict = calc_loss(...)      # a mean over the micro-batch
    loss.backward()
    if is_grad_step:
        grad_norm = clip_grad_norm_(model.saes.parameters(), config.max_grad_norm)
        optimizer.step(); optimizer.zero_grad()

so after n_gradient_accumulation_steps micro-batches the gradient was the *sum* of n mean-loss
gradients: n times the gradient of the mean over the effective batch. The fix puts back
`loss = loss / n_gradient_accumulation_steps` before `backward()`.

With Adam (as e2e_sae) the update itself is nearly scale-free, so the run does not blow up; what
the missing division changes is everything that reads the gradient's size: the `grad_norm` the
script logs is n times too large, and `clip_grad_norm_(max_grad_norm)`, whose threshold is set
for the gradient of a mean loss, clips almost every update.

Reduced: a small sparse autoencoder (ReLU encoder, linear decoder, MSE + L1 loss, means over the
micro-batch) trained with Adam, n=8 micro-batches per update and max_grad_norm=10. The run
records the pre-clip gradient norm of every update (what clip_grad_norm_ returns) and whether it
was clipped.
"""

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything
from bugcases.symptoms import Panel

ACCUMULATION = 8
MAX_GRAD_NORM = 10.0  # as e2e_sae's configs (max_grad_norm: 10.0)
L1_COEFF = 1e-3


class SAE(nn.Module):
    def __init__(self, d_in: int = 32, d_dict: int = 128) -> None:
        super().__init__()
        self.encoder = nn.Linear(d_in, d_dict)
        self.decoder = nn.Linear(d_dict, d_in)

    def forward(self, x):
        c = torch.relu(self.encoder(x))
        return self.decoder(c), c


def calc_loss(model, x):
    recon, c = model(x)
    return ((recon - x) ** 2).sum(-1).mean() + L1_COEFF * c.abs().sum(-1).mean()


def buggy_backward(loss, n_gradient_accumulation_steps):
    loss.backward()


def fixed_backward(loss, n_gradient_accumulation_steps):
    loss = loss / n_gradient_accumulation_steps
    loss.backward()


def _activations(samples: int, seed: int) -> torch.Tensor:
    """Activations made of a few sparse directions plus noise: something an SAE can learn."""
    g = torch.Generator().manual_seed(4242 + seed)
    features = torch.randn(64, 32, generator=g)
    codes = torch.rand(samples, 64, generator=g) * (torch.rand(samples, 64, generator=g) < 0.05)
    return 0.5 * (codes @ features) + 0.02 * torch.randn(samples, 32, generator=g)


def _train(backward):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        acts = _activations(config.train_samples, config.seed)
        loader = DataLoader(TensorDataset(acts), batch_size=config.batch_size, shuffle=True, generator=generator)
        model = SAE().to(device)
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, accumulation_steps=ACCUMULATION) as result:
            norms = result.extra.setdefault("grad_norm_per_update", [])
            for _ in epochs(config):
                total, steps = 0.0, 0
                for step, (x,) in enumerate(limited(loader, config.max_steps)):
                    loss = calc_loss(model, x.to(device))
                    backward(loss, ACCUMULATION)
                    total, steps = total + loss.item(), steps + 1
                    if (step + 1) % ACCUMULATION == 0:
                        norms.append(nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM).item())
                        optimizer.step()
                        optimizer.zero_grad()
                result.train_loss.append(total / max(steps, 1))
            result.extra["clipped_fraction"] = sum(n > MAX_GRAD_NORM for n in norms) / max(len(norms), 1)
        return result

    return train


def _grad_norm_n_times(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["grad_norm_per_update"], results["fixed"].extra["grad_norm_per_update"]
    ratio = buggy[0] / fixed[0]
    assert abs(ratio - ACCUMULATION) < 0.01 * ACCUMULATION, (
        f"expected buggy's first gradient norm to be {ACCUMULATION} x fixed's (same weights, same micro-batches), "
        f"found {buggy[0]:.4g} vs {fixed[0]:.4g} (x{ratio:.3f})")
    b_clip, f_clip = results["buggy"].extra["clipped_fraction"], results["fixed"].extra["clipped_fraction"]
    assert b_clip >= 0.9 and f_clip <= b_clip - 0.5, (
        f"expected clip_grad_norm_({MAX_GRAD_NORM}) to clip >= 90% of buggy's updates and at least 50 points fewer "
        f"of fixed's, found {b_clip:.0%} vs {f_clip:.0%}")


CASE = BugCase(
    id="e2esae-70-accumulation-not-divided",
    domain="optimization",
    added="2026-12-03",
    documented="#68 removed `loss = loss / n_gradient_accumulation_steps`; #70 put it back: 'We need to do this "
               "division because our losses include means'",
    title="Gradient accumulation without dividing the mean loss by the number of micro-batches",
    source="https://github.com/ApolloResearch/e2e_sae/pull/70",
    root_cause="Each micro-batch's mean loss is backpropagated undivided, so the accumulated gradient is "
               "n_gradient_accumulation_steps times the gradient of the mean over the effective batch.",
    variants=(
        Variant("buggy", _train(buggy_backward), "loss.backward() on each micro-batch's mean loss (#68)"),
        Variant("fixed", _train(fixed_backward), "(loss / n_gradient_accumulation_steps).backward() (#70)"),
    ),
    tiers={
        "quick": RunConfig(lr=1e-3, epochs=2, batch_size=16, train_samples=1024),
        "gpu": RunConfig(lr=1e-3, epochs=1, batch_size=16, train_samples=8192, device="cuda", tier="gpu"),
    },
    names=(),
    panels=(Panel("extra.grad_norm_per_update", "grad_norm (before clipping)", x="step", log_y=True),),
    claims=(
        Claim("buggy's gradient is n times the mean-loss gradient", ("buggy", "fixed"), _grad_norm_n_times,
              measures=("extra.grad_norm_per_update", "extra.clipped_fraction"), tiers=("slow", "gpu")),
    ),
)

"""huggingface/transformers#32944: labels shifted in the data collator and again in the model's loss.

Causal LMs shift the labels inside their loss ("labels = input_ids"); a collator that shifts
them too trains the model on the token after next. The model here is a tiny bigram LM (an
embedding and a linear head) whose forward computes the loss with the same one-step shift
as Hugging Face's causal LMs, on a Markov chain where token t+1 = perm[token t] 90% of the time.
"""

import torch
from torch import optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.data import SYNTHETIC_SEED
from bugcases.loop import epochs, limited, lm_epoch, watched_run
from bugcases.models import TinyCausalLM
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything

VOCAB, LENGTH, IGNORE = 16, 12, -100


def buggy_labels(input_ids):
    """The collator shifts the labels one step (as for a model that does not)."""
    labels = torch.full_like(input_ids, IGNORE)
    labels[:, :-1] = input_ids[:, 1:]
    return labels


def fixed_labels(input_ids):
    return input_ids.clone()


def markov_chain(samples: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(SYNTHETIC_SEED)
    perm = torch.randperm(VOCAB, generator=g)
    g.manual_seed(SYNTHETIC_SEED + 1 + seed)
    ids = torch.empty(samples, LENGTH, dtype=torch.long)
    ids[:, 0] = torch.randint(VOCAB, (samples,), generator=g)
    for t in range(1, LENGTH):
        jump = torch.rand(samples, generator=g) < 0.1
        ids[:, t] = torch.where(jump, torch.randint(VOCAB, (samples,), generator=g), perm[ids[:, t - 1]])
    return ids


def _train(make_labels):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        loader = DataLoader(TensorDataset(markov_chain(config.train_samples, 0)), batch_size=config.batch_size,
                            shuffle=True, generator=generator)
        val = markov_chain(config.val_samples, 1).to(device)
        model = TinyCausalLM(VOCAB, ignore_index=IGNORE).to(device)
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=model.loss_fct) as result:
            for _ in epochs(config):
                batches = limited(loader, config.max_steps)
                result.train_loss.append(lm_epoch(model, optimizer, batches, make_labels, device))
                next_token, after_next = _accuracies(model, val)
                result.validation_accuracy.append(next_token)
                result.extra.setdefault("after_next_accuracy", []).append(after_next)
        return result

    return train


def _accuracies(model, ids) -> tuple:
    """How often the prediction at t is token t+1 (next) and token t+2 (after next)."""
    model.eval()
    with torch.no_grad():
        predicted = model(ids)[1].argmax(-1)
    return ((predicted[:, :-1] == ids[:, 1:]).float().mean().item(),
            (predicted[:, :-2] == ids[:, 2:]).float().mean().item())


def _learns_token_after_next(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    assert fixed.validation_accuracy[-1] >= 0.8, (
        f"fixed: expected next-token accuracy >= 0.8, found {fixed.validation_accuracy[-1]:.3f}")
    assert buggy.validation_accuracy[-1] <= 0.3, (
        f"buggy: expected next-token accuracy <= 0.3, found {buggy.validation_accuracy[-1]:.3f}")
    assert buggy.extra["after_next_accuracy"][-1] >= 0.6, (
        f"buggy: expected it to predict the token after next (>= 0.6), found {buggy.extra['after_next_accuracy'][-1]:.3f}")


CASE = BugCase(
    id="hf-32944-labels-shifted-twice",
    domain="nlp",
    added="2026-11-25",
    documented="users who pre-shift their labels end up training next-next-token prediction by accident",
    title="Causal-LM labels shifted in the collator and again in the model's loss",
    source="https://github.com/huggingface/transformers/pull/44642",
    root_cause="The collator sets labels = input_ids[:, 1:] while the model's loss shifts the labels again.",
    variants=(
        Variant("buggy", _train(buggy_labels), "labels = input_ids shifted one step by the collator"),
        Variant("fixed", _train(fixed_labels), "labels = input_ids (the model shifts them)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.05, epochs=2, batch_size=32, train_samples=512, val_samples=256),
        "gpu": RunConfig(lr=0.05, epochs=5, batch_size=64, train_samples=8192, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    expects=(Expect("labels-shifted-twice", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy predicts the token after next", ("buggy", "fixed"), _learns_token_after_next,
                  measures=("validation_accuracy", "extra.after_next_accuracy")),),
)

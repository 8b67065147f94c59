"""huggingface/transformers#4718: padded labels keep the pad token id instead of -100.

Labels copied from right-padded input ids train the model to predict padding unless the pad
positions are set to -100, the loss's ignore_index: "labels that are not -100 will be used for
the calculation of the loss. So, the padding for the labels should be -100, not
tokenizer.pad_token_id". A tiny bigram causal LM on variable-length Markov-chain sequences
(4 to 12 tokens, padded with id 0) shows it: the model learns to put probability on padding
after real tokens.
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

VOCAB, LENGTH, PAD, IGNORE = 16, 12, 0, -100


def buggy_labels(input_ids):
    return input_ids.clone()


def fixed_labels(input_ids):
    labels = input_ids.clone()
    labels[input_ids == PAD] = IGNORE
    return labels


def padded_chain(samples: int, seed: int) -> torch.Tensor:
    """Sequences over tokens 1..15 (token t+1 = perm[token t] 90% of the time), 4 to 12 long,
    right-padded with PAD."""
    g = torch.Generator().manual_seed(SYNTHETIC_SEED)
    perm = torch.randperm(VOCAB - 1, generator=g) + 1
    g.manual_seed(SYNTHETIC_SEED + 1 + seed)
    ids = torch.empty(samples, LENGTH, dtype=torch.long)
    ids[:, 0] = torch.randint(1, VOCAB, (samples,), generator=g)
    for t in range(1, LENGTH):
        jump = torch.rand(samples, generator=g) < 0.1
        ids[:, t] = torch.where(jump, torch.randint(1, VOCAB, (samples,), generator=g), perm[ids[:, t - 1] - 1])
    lengths = torch.randint(4, LENGTH + 1, (samples,), generator=g)
    ids[torch.arange(LENGTH) >= lengths[:, None]] = PAD
    return ids


def _train(make_labels):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        loader = DataLoader(TensorDataset(padded_chain(config.train_samples, 0)), batch_size=config.batch_size,
                            shuffle=True, generator=generator)
        val = padded_chain(config.val_samples, 1).to(device)
        model = TinyCausalLM(VOCAB, ignore_index=IGNORE).to(device)
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=model.loss_fct) as result:
            for _ in epochs(config):
                batches = limited(loader, config.max_steps)
                result.train_loss.append(lm_epoch(model, optimizer, batches, make_labels, device))
                result.extra.setdefault("pad_probability", []).append(_pad_probability(model, val))
        return result

    return train


def _pad_probability(model, ids) -> float:
    """The mean probability the model gives to PAD where the next token is a real one."""
    model.eval()
    with torch.no_grad():
        probabilities = model(ids)[1][:, :-1].softmax(-1)[..., PAD]
    return probabilities[ids[:, 1:] != PAD].mean().item()


def _predicts_padding(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["pad_probability"][-1], results["fixed"].extra["pad_probability"][-1]
    assert buggy >= 0.05, f"buggy: expected >= 0.05 of the probability on padding before real tokens, found {buggy:.4f}"
    assert buggy >= 5 * fixed, f"expected buggy's probability on padding >= 5x fixed's, found {buggy:.4f} vs {fixed:.4f}"


CASE = BugCase(
    id="hf-4718-pad-token-labels",
    domain="nlp",
    added="2026-11-25",
    documented="labels that are not -100 are used in the loss: the padding for the labels should be -100, "
               "not tokenizer.pad_token_id",
    title="Padding tokens left in the labels (pad id, not -100): the model learns to predict padding",
    source="https://github.com/huggingface/transformers/pull/4718",
    root_cause="labels = input_ids.clone() keeps the pad id at padded positions instead of the loss's ignore_index.",
    variants=(
        Variant("buggy", _train(buggy_labels), "labels = input_ids.clone()"),
        Variant("fixed", _train(fixed_labels), "labels[input_ids == pad] = -100"),
    ),
    tiers={
        "quick": RunConfig(lr=0.05, epochs=2, batch_size=32, train_samples=512, val_samples=256),
        "gpu": RunConfig(lr=0.05, epochs=5, batch_size=64, train_samples=8192, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    expects=(Expect("padding-in-loss", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy puts probability on padding", ("buggy", "fixed"), _predicts_padding,
                  measures=("extra.pad_probability",)),),
)

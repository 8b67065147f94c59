"""astariul/encode-attend-navigate-pytorch#2: the critic's baseline is not detached in the policy loss.

Source: https://github.com/astariul/encode-attend-navigate-pytorch/issues/2 ("Critic not detached
from policy loss"): "The policy loss uses the critic (to compute the TD error) [...] But the critic
should not receive any backpropagation from the policy loss. Gradients should be stopped. In the
original implementation, they do `tf.stop_gradient(self.reward-self.predictions)*self.log_prob`".
Fix: PR #3 (https://github.com/astariul/encode-attend-navigate-pytorch/pull/3, commit 5870c16,
"Fix gradients bug"): "Because critic values were not detached when computing policy loss, the
critic network was backpropagated from both the policy loss and critic loss, leading to unstable
training [...] With this PR, we can reproduce the official repo's results"; before it the README
said the gap to the original repository's scores was larger and "I'm still trying to find the issue".

The trainer (one Adam optimizer over the whole agent, actor and critic on a shared encoder):

    loss1 = ((reward - critique) * log_probs).mean()        # fixed: (reward - critique).detach()
    loss2 = F.mse_loss(reward, critique)
    (loss1 + loss2).backward()

Root cause: d loss1 / d critique = -log_probs / batch, and a tour's log-probability is a sum of
several negative terms, so the policy loss drags the critic's estimate far below the tour length
(the critic settles near reward + log_probs / 2) and the biased baseline inflates every advantage.

Reduced version: the same trainer on 6-city Euclidean TSP instances with a small attention
encoder, a pointer decoder that samples a tour, and a critic head on the shared encoder. On
held-out instances the buggy critic's estimate ends about 0.8 below the length of the tours it
predicts (fixed: within about 0.1; tours are about 2.6 long). The greedy tours' gap to the exact
optimum (found by enumeration) is recorded too, but it did not separate the variants on every
seed at this scale, so no claim rests on it.
"""

import itertools

import torch
import torch.nn.functional as F
from torch import nn, optim

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

CITIES, HIDDEN, GRAD_CLIP = 6, 64, 1.0


def reward_fn(coords, tour):
    """The tour's length (the tour returns to its first city): the cost the agent minimizes."""
    ordered = torch.gather(coords, 1, torch.cat([tour, tour[:, :1]], 1).unsqueeze(-1).expand(-1, -1, 2))
    return (ordered[:, 1:] - ordered[:, :-1]).norm(dim=-1).sum(1)


class Agent(nn.Module):
    """Encoder (city embeddings + self-attention) shared by a pointer decoder and a critic."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(2, HIDDEN)
        self.attention = nn.MultiheadAttention(HIDDEN, 4, batch_first=True)
        self.query = nn.Linear(2 * HIDDEN, HIDDEN)
        self.critic = nn.Sequential(nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1))

    def forward(self, coords, greedy: bool = False):
        h = self.embed(coords)
        h = h + self.attention(h, h, h, need_weights=False)[0]
        critique = self.critic(h.mean(1)).squeeze(1)
        batch = torch.arange(len(coords), device=coords.device)
        visited = torch.zeros(len(coords), CITIES, dtype=torch.bool, device=coords.device)
        current = torch.zeros(len(coords), dtype=torch.long, device=coords.device)  # start at city 0
        visited[batch, current] = True
        tour, log_probs = [current], torch.zeros(len(coords), device=coords.device)
        for _ in range(CITIES - 1):
            q = self.query(torch.cat([h[batch, current], h.mean(1)], 1))
            scores = 10 * torch.tanh((h @ q.unsqueeze(-1)).squeeze(-1) / HIDDEN ** 0.5)
            dist = torch.distributions.Categorical(logits=scores.masked_fill(visited, float("-inf")))
            current = scores.masked_fill(visited, float("-inf")).argmax(1) if greedy else dist.sample()
            log_probs = log_probs + dist.log_prob(current)
            visited = visited.clone()
            visited[batch, current] = True
            tour.append(current)
        return torch.stack(tour, 1), critique, log_probs


def buggy_losses(reward, critique, log_probs):
    loss1 = ((reward - critique) * log_probs).mean()
    loss2 = F.mse_loss(reward, critique)
    return loss1, loss2


def fixed_losses(reward, critique, log_probs):
    loss1 = ((reward - critique).detach() * log_probs).mean()
    loss2 = F.mse_loss(reward, critique)
    return loss1, loss2


def _optimal_lengths(coords):
    best = torch.full((len(coords),), float("inf"))
    for rest in itertools.permutations(range(1, CITIES)):
        tour = torch.tensor((0, *rest)).expand(len(coords), -1)
        best = torch.minimum(best, reward_fn(coords, tour))
    return best


def _train(losses):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        agent = Agent().to(device)
        optimizer = optim.Adam(agent.parameters(), lr=config.lr)
        test = torch.rand(256, CITIES, 2, generator=torch.Generator().manual_seed(2024))
        with watched_run(config, agent, optimizer) as result:
            for _ in epochs(config):
                total, lengths, steps = 0.0, 0.0, 0
                for _ in limited(range(config.train_samples // config.batch_size), config.max_steps):
                    coords = torch.rand(config.batch_size, CITIES, 2, generator=generator).to(device)
                    optimizer.zero_grad()
                    tour, critique, log_probs = agent(coords)
                    reward = reward_fn(coords, tour)
                    loss1, loss2 = losses(reward, critique, log_probs)
                    (loss1 + loss2).backward()
                    nn.utils.clip_grad_norm_(agent.parameters(), GRAD_CLIP)
                    optimizer.step()
                    total, lengths, steps = total + (loss1 + loss2).item(), lengths + reward.mean().item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                result.extra.setdefault("tour_length_per_epoch", []).append(lengths / max(steps, 1))
        with torch.no_grad():
            agent.eval()
            coords = test.to(device)
            tour, critique, _ = agent(coords, greedy=True)
            greedy_length = reward_fn(coords, tour).cpu()
            sampled_tour, _, _ = agent(coords)
            sampled_length = reward_fn(coords, sampled_tour).cpu()
        optimal = _optimal_lengths(test)
        result.extra["greedy_gap"] = (greedy_length / optimal - 1).mean().item()  # 0 = optimal tours
        result.extra["critic_bias"] = (critique.cpu() - sampled_length).mean().item()
        return result

    return train


def _critic_dragged_down(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["critic_bias"], results["fixed"].extra["critic_bias"]
    assert abs(fixed) < 0.3, f"fixed: expected the critic within 0.3 of the tour length on average, found {fixed:.3f}"
    assert buggy < -0.5 and buggy < fixed - 0.4, (
        f"buggy: expected the critic's estimate at least 0.5 below the tour length it predicts (and 0.4 below "
        f"fixed's bias {fixed:.3f}), found {buggy:.3f}")


NOTE = "random TSP instances in memory; it reads no images"
LONGER = {"quick": {"epochs": 16}}

CASE = BugCase(
    id="ean-2-critic-not-detached",
    domain="reinforcement",
    added="2026-12-03",
    title="Actor-critic: the critic's baseline not detached in the policy loss (shared optimizer)",
    source="https://github.com/astariul/encode-attend-navigate-pytorch/issues/2",
    root_cause="loss1 = ((reward - critique) * log_probs).mean() back-propagates the policy loss into the critic, "
               "whose estimate is dragged toward reward + log_probs / 2.",
    documented="'critic values were not detached when computing policy loss, the critic network was backpropagated "
               "from both the policy loss and critic loss, leading to unstable training' (PR #3, commit 5870c16)",
    variants=(
        Variant("buggy", _train(buggy_losses), "loss1 = ((reward - critique) * log_probs).mean()"),
        Variant("fixed", _train(fixed_losses), "loss1 = ((reward - critique).detach() * log_probs).mean()"),
    ),
    tiers={
        "quick": RunConfig(lr=1e-3, epochs=2, batch_size=128, train_samples=1024),
        "gpu": RunConfig(lr=1e-3, epochs=16, batch_size=128, train_samples=1024, device="cuda", tier="gpu"),
    },
    claims=(
        Claim("the critic is dragged below the tour length", ("buggy", "fixed"), _critic_dragged_down,
              measures=("extra.critic_bias",), overrides=LONGER, tiers=("slow", "gpu"), sources=("synthetic",),
              real_note=NOTE),
    ),
    names=(),
)

"""thesouther/MARL#8: the target network is "synchronized" from itself, so it never changes.

Source: https://github.com/thesouther/MARL/issues/8 ("目标网络更新bug", target-network update bug).
The reporter, on QMIX/policy.py line 110: "when updating the target network,
`self.target_qmix_net.load_state_dict(self.target_qmix_net.state_dict())` - shouldn't the latter
be `eval_qmix_net`?"; the maintainer: "Yes, updated." Fix: commit
40d962a0a15144dab59cb49a9a6e593be6fbb07b, which changes that line to
`self.target_qmix_net.load_state_dict(self.eval_qmix_net.state_dict())`.

Root cause: the periodic sync copies the target network's own weights into itself. The target
keeps the weights it was given at construction, so every TD target is r + gamma * max_a Q0(s', a)
for the untrained Q0: value never propagates more than one step back from a reward.

Reduced version: DQN (replay buffer, epsilon-greedy, a target network copied from the online
network at construction and re-synced every few updates, as in the repository) on an 8-state
chain: reward 1 for stepping right off the last state, 0 elsewhere, gamma 0.9. The fixed run's
greedy policy walks right from every state and its V(s) approaches the optimal gamma^k; the
buggy run's values stay near the untrained network's beyond the last state, and its greedy
policy fails from most states.
"""

import random

import torch
from torch import nn, optim

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

STATES, GAMMA, HORIZON = 8, 0.9, 16
SYNC_EVERY = 10  # updates between target syncs
EPSILON = 0.3


class Chain:
    """States 0..STATES-1; action 1 moves right, 0 left; moving right from the last state ends the
    episode with reward 1. Episodes start in a uniformly random state (exploring starts)."""

    def reset(self) -> int:
        self.state, self.t = random.randrange(STATES), 0
        return self.state

    def step(self, action: int):
        self.t += 1
        if action == 1 and self.state == STATES - 1:
            return self.state, 1.0, True
        self.state = min(self.state + 1, STATES - 1) if action == 1 else max(self.state - 1, 0)
        return self.state, 0.0, self.t >= HORIZON


def q_network() -> nn.Module:
    return nn.Sequential(nn.Linear(STATES, 32), nn.ReLU(), nn.Linear(32, 2))


def buggy_sync(target_net, eval_net):
    target_net.load_state_dict(target_net.state_dict())


def fixed_sync(target_net, eval_net):
    target_net.load_state_dict(eval_net.state_dict())


def _one_hot(states, device):
    return torch.eye(STATES, device=device)[torch.as_tensor(states, device=device)]


def _train(sync):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        seed_everything(config.seed)
        env, replay = Chain(), []
        eval_net, target_net = q_network().to(device), q_network().to(device)
        target_net.load_state_dict(eval_net.state_dict())  # copy eval net params to target net
        criterion = nn.MSELoss()
        optimizer = optim.Adam(eval_net.parameters(), lr=config.lr)
        state, updates = env.reset(), 0
        with watched_run(config, eval_net, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                total, steps = 0.0, 0
                for _ in limited(range(config.train_samples // config.batch_size), config.max_steps):
                    # Act (epsilon-greedy) and store the transition.
                    for _ in range(4):
                        with torch.no_grad():
                            greedy = eval_net(_one_hot([state], device)).argmax(1).item()
                        action = random.randrange(2) if random.random() < EPSILON else greedy
                        next_state, reward, done = env.step(action)
                        replay.append((state, action, reward, next_state, float(done and reward > 0)))
                        state = env.reset() if done else next_state
                    # Learn from a replay batch.
                    batch = random.choices(replay, k=config.batch_size)
                    s, a, r, s2, terminal = (torch.tensor(col, device=device) for col in zip(*batch))
                    q = eval_net(_one_hot(s, device)).gather(1, a.view(-1, 1)).squeeze(1)
                    with torch.no_grad():
                        q_next = target_net(_one_hot(s2, device)).max(1).values
                    target = r.float() + GAMMA * (1 - terminal.float()) * q_next
                    loss = criterion(q, target)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    updates += 1
                    if updates % SYNC_EVERY == 0:
                        sync(target_net, eval_net)
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
        result.extra.update(_evaluate(eval_net, device))
        return result

    return train


def _evaluate(eval_net, device) -> dict:
    """V(s) = max_a Q(s, a) against the optimal gamma^(distance to the end), and whether the greedy
    policy leaves the chain on the right within the horizon, from every state."""
    with torch.no_grad():
        values = eval_net(_one_hot(list(range(STATES)), device))
    optimal = torch.tensor([GAMMA ** (STATES - 1 - s) for s in range(STATES)])
    value_error = (values.max(1).values.cpu() - optimal).abs().max().item()
    successes = 0
    for start in range(STATES):
        s = start
        for _ in range(HORIZON):
            if values[s].argmax().item() == 0:
                s = max(s - 1, 0)
            elif s == STATES - 1:
                successes += 1
                break
            else:
                s += 1
    return {"value_error": value_error, "greedy_success": successes / STATES}


def _values_do_not_propagate(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert fixed["value_error"] < 0.15, (
        f"fixed: expected max |V(s) - V*(s)| < 0.15, found {fixed['value_error']:.3f}")
    assert buggy["value_error"] > 0.3, (
        f"buggy: expected max |V(s) - V*(s)| > 0.3 (values stuck at the untrained target's), "
        f"found {buggy['value_error']:.3f}")


def _greedy_policy_fails(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert fixed["greedy_success"] == 1.0, (
        f"fixed: expected the greedy policy to reach the goal from every state, found {fixed['greedy_success']:.2f}")
    assert buggy["greedy_success"] <= 0.75, (
        f"buggy: expected the greedy policy to fail from some states (success <= 0.75), "
        f"found {buggy['greedy_success']:.2f}")


NOTE = "a chain MDP in memory; it reads no images"

CASE = BugCase(
    id="marl-8-target-synced-from-itself",
    domain="reinforcement",
    added="2026-12-03",
    title="DQN target network 'synced' from itself (target.load_state_dict(target.state_dict()))",
    source="https://github.com/thesouther/MARL/issues/8",
    root_cause="The periodic target update loads the target network's own state dict, so the target keeps its "
               "initial weights and TD targets bootstrap from the untrained network forever.",
    documented="'self.target_qmix_net.load_state_dict(self.target_qmix_net.state_dict()) - shouldn't the latter be "
               "eval_qmix_net?' - 'Yes, updated' (fixed in commit 40d962a)",
    variants=(
        Variant("buggy", _train(buggy_sync), "target_net.load_state_dict(target_net.state_dict())"),
        Variant("fixed", _train(fixed_sync), "target_net.load_state_dict(eval_net.state_dict())"),
    ),
    tiers={
        "quick": RunConfig(lr=3e-3, epochs=2, batch_size=32, train_samples=1024),
        "gpu": RunConfig(lr=3e-3, epochs=20, batch_size=32, train_samples=1024, device="cuda", tier="gpu"),
    },
    claims=(
        Claim("values do not propagate", ("buggy", "fixed"), _values_do_not_propagate,
              measures=("extra.value_error",), overrides={"quick": {"epochs": 12}}, tiers=("slow", "gpu"),
              sources=("synthetic",), real_note=NOTE),
        Claim("the greedy policy fails", ("buggy", "fixed"), _greedy_policy_fails,
              measures=("extra.greedy_success",), overrides={"quick": {"epochs": 12}}, tiers=("slow", "gpu"),
              sources=("synthetic",), real_note=NOTE),
    ),
    names=(),
)

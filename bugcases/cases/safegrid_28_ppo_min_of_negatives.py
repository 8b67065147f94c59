"""jvmncs/safe-grid-agents#28: PPO's clipped objective negated inside the min.

Source: https://github.com/jvmncs/safe-grid-agents/pull/28 ("Fixed policy loss calculation",
merged as commit 70c452e; the change itself is commit 824eef62048338e28dedf3fa471ac5062a06f544):
"Discovered a flaw in the policy loss calculation (negative sign being distributed through a
`min`). Fixed!" In safe_grid_agents/common/agents/policy_base.py:

    pi_loss = torch.min(                                   # fixed: pi_loss = -torch.min(
        -(adv * ratio).mean(),                             #            (adv * ratio).mean(),
        -(adv * ratio.clamp(1 - self.clipping, 1 + self.clipping)).mean(),
    )                                                      #            (adv * ratio.clamp(...)).mean())

Root cause: min(-a, -b) = -max(a, b). PPO maximizes the pessimistic min of the unclipped and the
clipped surrogate, so a policy that already moved past the clip range gets no further push; the
negated-inside version maximizes the optimistic max, which always picks the unclipped surrogate
when it is larger, so the clipping never stops the policy: the trust region is gone.

Reduced version: the repository's PPOBaseAgent.learn (an old-policy copy synced after each
update, `epochs` passes of a random minibatch drawn from the rollout, the min taken over the two
means as in the repository, value loss and entropy bonus, one Adam optimizer) on a contextual
bandit (8 one-hot states, 4 actions, a fixed reward table). One difference from the repository:
the advantage is detached here in both variants (the repository's `adv = r - state_values` is not;
that is a separate bug, see ean-2-critic-not-detached). Measured: how far each update moves the
policy from the old one, KL(old || new) averaged over the states; the buggy updates move it
several times further (the final policy's entropy is recorded too).
"""

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.distributions import Categorical

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

STATES, ACTIONS = 8, 4
ROLLOUT, PPO_EPOCHS, CLIPPING = 256, 30, 0.2
CRITIC_COEFF, ENTROPY_BONUS = 0.5, 0.01


class ActorCritic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(STATES, 64), nn.ReLU())
        self.pi = nn.Linear(64, ACTIONS)
        self.v = nn.Linear(64, 1)

    def forward(self, s):
        h = self.body(s)
        return self.pi(h), self.v(h).squeeze(-1)


def buggy_pi_loss(adv, ratio, clipping):
    return torch.min(
        -(adv * ratio).mean(),
        -(adv * ratio.clamp(1 - clipping, 1 + clipping)).mean(),
    )


def fixed_pi_loss(adv, ratio, clipping):
    return -torch.min(
        (adv * ratio).mean(),
        (adv * ratio.clamp(1 - clipping, 1 + clipping)).mean(),
    )


def _train(pi_loss_fn):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        rewards_table = torch.rand(STATES, ACTIONS, generator=torch.Generator().manual_seed(7)).to(device)
        agent, old_policy = ActorCritic().to(device), ActorCritic().to(device)
        old_policy.load_state_dict(agent.state_dict())
        optimizer = optim.Adam(agent.parameters(), lr=config.lr)
        all_states = torch.eye(STATES, device=device)
        kls, mean_rewards = [], []
        with watched_run(config, agent, optimizer) as result:
            for _ in epochs(config):
                total, steps = 0.0, 0
                for _ in limited(range(config.train_samples // ROLLOUT), config.max_steps):
                    # Gather a rollout from the old policy.
                    with torch.no_grad():
                        s_idx = torch.randint(STATES, (ROLLOUT,), generator=generator).to(device)
                        states = all_states[s_idx]
                        actions = Categorical(logits=old_policy(states)[0]).sample()
                        returns = rewards_table[s_idx, actions] + 0.1 * torch.randn(ROLLOUT, device=device)
                    mean_rewards.append(rewards_table[s_idx, actions].mean().item())
                    # learn(): `epochs` random minibatches from the rollout.
                    for _ in range(PPO_EPOCHS):
                        ixs = torch.randint(ROLLOUT, (config.batch_size,), generator=generator).to(device)
                        s, a, r = states[ixs], actions[ixs], returns[ixs]
                        prepolicy, state_values = agent(s)
                        policy_curr = Categorical(logits=prepolicy)
                        adv = (r - state_values).detach()
                        with torch.no_grad():
                            log_probs_old = Categorical(logits=old_policy(s)[0]).log_prob(a)
                        ratio = torch.exp(policy_curr.log_prob(a) - log_probs_old)
                        vf_loss = F.mse_loss(state_values, r)
                        pi_loss = pi_loss_fn(adv, ratio, CLIPPING)
                        loss = pi_loss + CRITIC_COEFF * vf_loss - ENTROPY_BONUS * policy_curr.entropy().mean()
                        optimizer.zero_grad()
                        loss.backward()
                        optimizer.step()
                        total, steps = total + loss.item(), steps + 1
                    # How far this update moved the policy, then sync the old policy.
                    with torch.no_grad():
                        old_logp = F.log_softmax(old_policy(all_states)[0], -1)
                        new_logp = F.log_softmax(agent(all_states)[0], -1)
                        kls.append((old_logp.exp() * (old_logp - new_logp)).sum(-1).mean().item())
                    old_policy.load_state_dict(agent.state_dict())
                result.train_loss.append(total / max(steps, 1))
        result.extra["kl_per_update"] = kls
        result.extra["mean_kl_per_update"] = sum(kls) / max(len(kls), 1)
        with torch.no_grad():
            probs = F.softmax(agent(all_states)[0], -1)
        result.extra["final_entropy"] = -(probs * probs.clamp_min(1e-12).log()).sum(-1).mean().item()
        result.extra["mean_reward_per_update"] = mean_rewards
        return result

    return train


def _no_trust_region(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["mean_kl_per_update"] > 2.5 * fixed["mean_kl_per_update"], (
        f"expected buggy's updates to move the policy more than 2.5x as far (mean KL(old || new) per update), "
        f"found {buggy['mean_kl_per_update']:.4f} vs {fixed['mean_kl_per_update']:.4f}")


NOTE = "a contextual bandit in memory; it reads no images"

CASE = BugCase(
    id="safegrid-28-ppo-min-of-negatives",
    domain="reinforcement",
    added="2026-12-03",
    title="PPO clipped loss written as min(-unclipped, -clipped): the clip never limits the update",
    source="https://github.com/jvmncs/safe-grid-agents/pull/28",
    root_cause="pi_loss = torch.min(-(adv * ratio).mean(), -(adv * clipped_ratio).mean()) is -max of the two "
               "surrogates, so the optimistic unclipped one is maximized and PPO's trust region is lost.",
    documented="'Discovered a flaw in the policy loss calculation (negative sign being distributed through a `min`). "
               "Fixed!' (PR #28, commit 824eef6)",
    variants=(
        Variant("buggy", _train(buggy_pi_loss), "torch.min(-(adv * ratio).mean(), -(adv * clipped).mean())"),
        Variant("fixed", _train(fixed_pi_loss), "-torch.min((adv * ratio).mean(), (adv * clipped).mean())"),
    ),
    tiers={
        "quick": RunConfig(lr=1e-2, epochs=1, batch_size=64, train_samples=1024),
        "gpu": RunConfig(lr=1e-2, epochs=10, batch_size=64, train_samples=2048, device="cuda", tier="gpu"),
    },
    claims=(
        Claim("updates leave the trust region", ("buggy", "fixed"), _no_trust_region,
              measures=("extra.mean_kl_per_update",), overrides={"quick": {"epochs": 2, "train_samples": 2048}},
              tiers=("slow", "gpu"), sources=("synthetic",),
              real_note=NOTE),
    ),
    names=(),
)

"""TrainCheck's bug-free REINFORCE workload (CartPole), from the false-positive test set.

Read at commit 2de9268be8845dade014e5e065693e4fdd9095d6 of
https://github.com/OrderLab/TrainCheck-Evaluation-Workloads, file
fp_rate/workloads/reinforce-reinforce/reinforce.py. The workload itself adapts pytorch/examples
reinforcement_learning/reinforce.py (TrainCheck's authors cap each episode at 49 steps and stop
at the first log interval).

Changed: the environment and the number of episodes only. gym's `CartPole-v1` is not installed:
`bugcases.corpus._cartpole.CartPole` runs gym's CartPole equations in numpy with gym's 0.26
reset/step API and `spec.reward_threshold`, seeded with args.seed (543). `log_interval` 10 -> 4,
so the loop stops after 4 episodes (4 optimizer steps). `annotate_stage` calls (TrainCheck's
tracer) and printing are left out. The policy (4 -> 128 -> 2, dropout 0.6, softmax),
Adam(lr=1e-2), `select_action`, `finish_episode` (discounted returns, normalized with eps,
`-log_prob * R` summed) and the episode loop are the workload's.

Watch options: none (the loss is written by hand, no loss module).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

from collections import deque
from itertools import count

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.distributions import Categorical

from bugcases.corpus._cartpole import CartPole

SOURCE = {"repo": "OrderLab/TrainCheck-Evaluation-Workloads",
          "path": "fp_rate/workloads/reinforce-reinforce/reinforce.py",
          "commit": "2de9268be8845dade014e5e065693e4fdd9095d6"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of finish_episode()
    "zero-grad-after-backward": ("zero-grad-before-step", 0),  # optimizer.zero_grad() moved between backward and step
}

gamma, seed, log_interval = 0.99, 543, 4


class Policy(nn.Module):
    def __init__(self):
        super(Policy, self).__init__()
        self.affine1 = nn.Linear(4, 128)
        self.dropout = nn.Dropout(p=0.6)
        self.affine2 = nn.Linear(128, 2)

        self.saved_log_probs = []
        self.rewards = []

    def forward(self, x):
        x = self.affine1(x)
        x = self.dropout(x)
        x = F.relu(x)
        action_scores = self.affine2(x)
        return F.softmax(action_scores, dim=1)


def run(watched, bug=None):
    env = CartPole()
    env.reset(seed=seed)
    torch.manual_seed(seed)
    policy = Policy()
    optimizer = optim.Adam(policy.parameters(), lr=1e-2)
    eps = np.finfo(np.float32).eps.item()
    losses = []

    def select_action(state):
        state = torch.from_numpy(state).float().unsqueeze(0)
        probs = policy(state)
        m = Categorical(probs)
        action = m.sample()
        policy.saved_log_probs.append(m.log_prob(action))
        return action.item()

    def finish_episode():
        R = 0
        policy_loss = []
        returns = deque()
        for r in policy.rewards[::-1]:
            R = r + gamma * R
            returns.appendleft(R)
        returns = torch.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps)
        for log_prob, R in zip(policy.saved_log_probs, returns):
            policy_loss.append(-log_prob * R)
        if bug not in ("missing-zero-grad", "zero-grad-after-backward"):
            optimizer.zero_grad()
        policy_loss = torch.cat(policy_loss).sum()
        policy_loss.backward()
        if bug == "zero-grad-after-backward":
            optimizer.zero_grad()
        optimizer.step()
        losses.append(policy_loss.item())
        del policy.rewards[:]
        del policy.saved_log_probs[:]

    with watched(policy, optimizer):
        running_reward = 10
        for i_episode in count(1):
            state, _ = env.reset()
            ep_reward = 0
            for t in range(1, 50):  # Don't infinite loop while learning
                action = select_action(state)
                state, reward, done, _, _ = env.step(action)
                policy.rewards.append(reward)
                ep_reward += reward
                if done:
                    break

            running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
            finish_episode()
            if i_episode % log_interval == 0:
                break
            if running_reward > env.spec.reward_threshold:
                break
    return losses

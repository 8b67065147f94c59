"""TrainCheck's bug-free actor-critic workload (CartPole), from the false-positive test set.

Read at commit 2de9268be8845dade014e5e065693e4fdd9095d6 of
https://github.com/OrderLab/TrainCheck-Evaluation-Workloads, file
fp_rate/workloads/reinforce-actor-critic/actor_critic.py. The workload itself adapts
pytorch/examples reinforcement_learning/actor_critic.py (TrainCheck's authors cap each episode
at 49 steps and stop at the first log interval).

Changed: the environment and the number of episodes only. gym's `CartPole-v1` is not installed:
`bugcases.corpus._cartpole.CartPole` runs gym's CartPole equations in numpy with gym's 0.26
reset/step API and `spec.reward_threshold`, seeded with args.seed (543). `log_interval` 10 -> 4,
so the loop stops after 4 episodes (4 optimizer steps). `annotate_stage` calls and printing are
left out. The shared-trunk policy (4 -> 128, actor head with softmax, critic head),
Adam(lr=3e-2), `select_action`, `finish_episode` (normalized discounted returns, advantage
`R - value.item()`, policy loss `-log_prob * advantage`, critic `F.smooth_l1_loss`, both summed)
and the episode loop are the workload's.

Watch options: none (the losses are functional calls, no loss module).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

from collections import namedtuple
from itertools import count

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.distributions import Categorical

from bugcases.corpus._cartpole import CartPole

SOURCE = {"repo": "OrderLab/TrainCheck-Evaluation-Workloads",
          "path": "fp_rate/workloads/reinforce-actor-critic/actor_critic.py",
          "commit": "2de9268be8845dade014e5e065693e4fdd9095d6"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of finish_episode()
    "zero-grad-after-backward": ("zero-grad-before-step", 0),  # optimizer.zero_grad() moved between backward and step
}

gamma, seed, log_interval = 0.99, 543, 4

SavedAction = namedtuple('SavedAction', ['log_prob', 'value'])


class Policy(nn.Module):
    """
    implements both actor and critic in one model
    """
    def __init__(self):
        super(Policy, self).__init__()
        self.affine1 = nn.Linear(4, 128)

        # actor's layer
        self.action_head = nn.Linear(128, 2)

        # critic's layer
        self.value_head = nn.Linear(128, 1)

        # action & reward buffer
        self.saved_actions = []
        self.rewards = []

    def forward(self, x):
        """
        forward of both actor and critic
        """
        x = F.relu(self.affine1(x))

        # actor: choses action to take from state s_t
        # by returning probability of each action
        action_prob = F.softmax(self.action_head(x), dim=-1)

        # critic: evaluates being in the state s_t
        state_values = self.value_head(x)

        # return values for both actor and critic as a tuple of 2 values:
        # 1. a list with the probability of each action over the action space
        # 2. the value from state s_t
        return action_prob, state_values


def run(watched, bug=None):
    env = CartPole()
    env.reset(seed=seed)
    torch.manual_seed(seed)
    model = Policy()
    optimizer = optim.Adam(model.parameters(), lr=3e-2)
    eps = np.finfo(np.float32).eps.item()
    losses = []

    def select_action(state):
        state = torch.from_numpy(state).float()
        probs, state_value = model(state)

        # create a categorical distribution over the list of probabilities of actions
        m = Categorical(probs)

        # and sample an action using the distribution
        action = m.sample()

        # save to action buffer
        model.saved_actions.append(SavedAction(m.log_prob(action), state_value))

        # the action to take (left or right)
        return action.item()

    def finish_episode():
        R = 0
        saved_actions = model.saved_actions
        policy_losses = [] # list to save actor (policy) loss
        value_losses = [] # list to save critic (value) loss
        returns = [] # list to save the true values

        # calculate the true value using rewards returned from the environment
        for r in model.rewards[::-1]:
            # calculate the discounted value
            R = r + gamma * R
            returns.insert(0, R)

        returns = torch.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps)

        for (log_prob, value), R in zip(saved_actions, returns):
            advantage = R - value.item()

            # calculate actor (policy) loss
            policy_losses.append(-log_prob * advantage)

            # calculate critic (value) loss using L1 smooth loss
            value_losses.append(F.smooth_l1_loss(value, torch.tensor([R])))

        # reset gradients
        if bug not in ("missing-zero-grad", "zero-grad-after-backward"):
            optimizer.zero_grad()

        # sum up all the values of policy_losses and value_losses
        loss = torch.stack(policy_losses).sum() + torch.stack(value_losses).sum()

        # perform backprop
        loss.backward()
        if bug == "zero-grad-after-backward":
            optimizer.zero_grad()
        optimizer.step()
        losses.append(loss.item())

        # reset rewards and action buffer
        del model.rewards[:]
        del model.saved_actions[:]

    with watched(model, optimizer):
        running_reward = 10

        # run infinitely many episodes
        for i_episode in count(1):

            # reset environment and episode reward
            state, _ = env.reset()
            ep_reward = 0

            # for each episode, only run 9999 steps so that we don't
            # infinite loop while learning
            for t in range(1, 50):

                # select action from policy
                action = select_action(state)

                # take the action
                state, reward, done, _, _ = env.step(action)

                model.rewards.append(reward)
                ep_reward += reward
                if done:
                    break

            # update cumulative reward
            running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward

            # perform backprop
            finish_episode()

            # log results
            if i_episode % log_interval == 0:
                break

            # check if we have "solved" the cart pole problem
            if running_reward > env.spec.reward_threshold:
                break
    return losses

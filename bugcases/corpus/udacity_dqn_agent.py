"""udacity/deep-reinforcement-learning dqn/solution/dqn_agent.py (`Agent`, `ReplayBuffer`) with
dqn/solution/model.py (`QNetwork`), trained by the `dqn()` loop of
dqn/solution/Deep_Q_Network_Solution.ipynb (LunarLander-v2, epsilon-greedy, learning every 4
steps, soft target updates).

Read at commit 561eec3ae8678a23a4557f1a15414a9b076fdfff of
https://github.com/udacity/deep-reinforcement-learning.

Changed: environment, sizes and episodes only. gym's LunarLander-v2 (Box2D) is not installed:
`env` is a stand-in with its interface and shapes under the old gym API the notebook uses
(`env.seed`, `state = env.reset()`, `next_state, reward, done, info = env.step(action)`): 8-float
observations, 4 actions, rewards drawn from a normal distribution, episodes that end after
12..20 steps, all from a seeded numpy generator. BATCH_SIZE 64 -> 8, BUFFER_SIZE 1e5 -> 1000,
n_episodes 2000 -> 2 (max_t 1000 never reached); `QNetwork` keeps 64/64 hidden units. GAMMA
0.99, TAU 1e-3, LR 5e-4, UPDATE_EVERY 4, `act()` (eval / no_grad / train around the forward),
`step()`, `learn()` (target from the detached target network, `F.mse_loss`, soft update),
`ReplayBuffer` and the notebook's loop (epsilon decay, score window) are the repository's.
Printing, plotting and the checkpoint save are left out.

Watch options: `watched(agent.qnetwork_local, agent.optimizer)` (functional `F.mse_loss`).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import random
from collections import deque, namedtuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

SOURCE = {"repo": "udacity/deep-reinforcement-learning", "path": "dqn/solution/dqn_agent.py",
          "commit": "561eec3ae8678a23a4557f1a15414a9b076fdfff"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # self.optimizer.zero_grad() left out of learn()
    "zero-grad-after-backward": ("zero-grad-before-step", 0),  # self.optimizer.zero_grad() moved between backward and step
}

BUFFER_SIZE = int(1e3)  # replay buffer size
BATCH_SIZE = 8          # minibatch size
GAMMA = 0.99            # discount factor
TAU = 1e-3              # for soft update of target parameters
LR = 5e-4               # learning rate
UPDATE_EVERY = 4        # how often to update the network

device = torch.device("cpu")


class QNetwork(nn.Module):
    """Actor (Policy) Model."""

    def __init__(self, state_size, action_size, seed, fc1_units=64, fc2_units=64):
        super(QNetwork, self).__init__()
        self.seed = torch.manual_seed(seed)
        self.fc1 = nn.Linear(state_size, fc1_units)
        self.fc2 = nn.Linear(fc1_units, fc2_units)
        self.fc3 = nn.Linear(fc2_units, action_size)

    def forward(self, state):
        """Build a network that maps state -> action values."""
        x = F.relu(self.fc1(state))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class Agent():
    """Interacts with and learns from the environment."""

    def __init__(self, state_size, action_size, seed, bug=None):
        self.state_size = state_size
        self.action_size = action_size
        self.seed = random.seed(seed)
        self.bug = bug
        self.losses = []

        # Q-Network
        self.qnetwork_local = QNetwork(state_size, action_size, seed).to(device)
        self.qnetwork_target = QNetwork(state_size, action_size, seed).to(device)
        self.optimizer = optim.Adam(self.qnetwork_local.parameters(), lr=LR)

        # Replay memory
        self.memory = ReplayBuffer(action_size, BUFFER_SIZE, BATCH_SIZE, seed)
        # Initialize time step (for updating every UPDATE_EVERY steps)
        self.t_step = 0

    def step(self, state, action, reward, next_state, done):
        # Save experience in replay memory
        self.memory.add(state, action, reward, next_state, done)

        # Learn every UPDATE_EVERY time steps.
        self.t_step = (self.t_step + 1) % UPDATE_EVERY
        if self.t_step == 0:
            # If enough samples are available in memory, get random subset and learn
            if len(self.memory) > BATCH_SIZE:
                experiences = self.memory.sample()
                self.learn(experiences, GAMMA)

    def act(self, state, eps=0.):
        state = torch.from_numpy(state).float().unsqueeze(0).to(device)
        self.qnetwork_local.eval()
        with torch.no_grad():
            action_values = self.qnetwork_local(state)
        self.qnetwork_local.train()

        # Epsilon-greedy action selection
        if random.random() > eps:
            return np.argmax(action_values.cpu().data.numpy())
        else:
            return random.choice(np.arange(self.action_size))

    def learn(self, experiences, gamma):
        states, actions, rewards, next_states, dones = experiences

        # Get max predicted Q values (for next states) from target model
        Q_targets_next = self.qnetwork_target(next_states).detach().max(1)[0].unsqueeze(1)
        # Compute Q targets for current states
        Q_targets = rewards + (gamma * Q_targets_next * (1 - dones))

        # Get expected Q values from local model
        Q_expected = self.qnetwork_local(states).gather(1, actions)

        # Compute loss
        loss = F.mse_loss(Q_expected, Q_targets)
        # Minimize the loss
        if self.bug not in ("missing-zero-grad", "zero-grad-after-backward"):
            self.optimizer.zero_grad()
        loss.backward()
        if self.bug == "zero-grad-after-backward":
            self.optimizer.zero_grad()
        self.optimizer.step()
        self.losses.append(loss.item())

        # ------------------- update target network ------------------- #
        self.soft_update(self.qnetwork_local, self.qnetwork_target, TAU)

    def soft_update(self, local_model, target_model, tau):
        for target_param, local_param in zip(target_model.parameters(), local_model.parameters()):
            target_param.data.copy_(tau*local_param.data + (1.0-tau)*target_param.data)


class ReplayBuffer:
    """Fixed-size buffer to store experience tuples."""

    def __init__(self, action_size, buffer_size, batch_size, seed):
        self.action_size = action_size
        self.memory = deque(maxlen=buffer_size)
        self.batch_size = batch_size
        self.experience = namedtuple("Experience", field_names=["state", "action", "reward", "next_state", "done"])
        self.seed = random.seed(seed)

    def add(self, state, action, reward, next_state, done):
        """Add a new experience to memory."""
        e = self.experience(state, action, reward, next_state, done)
        self.memory.append(e)

    def sample(self):
        """Randomly sample a batch of experiences from memory."""
        experiences = random.sample(self.memory, k=self.batch_size)

        states = torch.from_numpy(np.vstack([e.state for e in experiences if e is not None])).float().to(device)
        actions = torch.from_numpy(np.vstack([e.action for e in experiences if e is not None])).long().to(device)
        rewards = torch.from_numpy(np.vstack([e.reward for e in experiences if e is not None])).float().to(device)
        next_states = torch.from_numpy(np.vstack([e.next_state for e in experiences if e is not None])).float().to(device)
        dones = torch.from_numpy(np.vstack([e.done for e in experiences if e is not None]).astype(np.uint8)).float().to(device)

        return (states, actions, rewards, next_states, dones)

    def __len__(self):
        """Return the current size of internal memory."""
        return len(self.memory)


class LunarLanderStandIn:
    """LunarLander-v2's shapes under the old gym API: 8-float observations, 4 actions."""

    def seed(self, seed):
        self.rng = np.random.default_rng(seed)

    def reset(self):
        self.t, self.horizon = 0, int(self.rng.integers(12, 21))
        return self.rng.normal(size=8).astype(np.float32)

    def step(self, action):
        self.t += 1
        return (self.rng.normal(size=8).astype(np.float32), float(self.rng.normal(0, 10)),
                self.t >= self.horizon, {})


def run(watched, bug=None):
    env = LunarLanderStandIn()
    env.seed(0)
    agent = Agent(state_size=8, action_size=4, seed=0, bug=bug)

    def dqn(n_episodes=2, max_t=1000, eps_start=1.0, eps_end=0.01, eps_decay=0.995):
        scores = []                        # list containing scores from each episode
        scores_window = deque(maxlen=100)  # last 100 scores
        eps = eps_start                    # initialize epsilon
        for i_episode in range(1, n_episodes+1):
            state = env.reset()
            score = 0
            for t in range(max_t):
                action = agent.act(state, eps)
                next_state, reward, done, _ = env.step(action)
                agent.step(state, action, reward, next_state, done)
                state = next_state
                score += reward
                if done:
                    break
            scores_window.append(score)       # save most recent score
            scores.append(score)              # save most recent score
            eps = max(eps_end, eps_decay*eps) # decrease epsilon
            if np.mean(scores_window)>=200.0:
                break
        return scores

    with watched(agent.qnetwork_local, agent.optimizer):
        scores = dqn()
    return agent.losses

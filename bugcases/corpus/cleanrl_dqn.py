"""vwxyzjn/cleanrl cleanrl/dqn.py: DQN on CartPole-v1 (epsilon-greedy, replay buffer, target network).

Read at commit fe8d8a03c41a7ef5b523e2e354bd01c363e786bb of https://github.com/vwxyzjn/cleanrl.

Changed: environment, buffer, sizes and steps only. gymnasium, stable-baselines3's ReplayBuffer
(via cleanrl_utils.buffers), tyro and tensorboard are not installed: `envs` is a one-env
stand-in for `gym.vector.SyncVectorEnv` (gymnasium 0.29 API: batched obs, autoreset on
termination with `infos["final_observation"]`, a seeded `single_action_space.sample()`) over
`bugcases.corpus._cartpole.CartPole` (gym's CartPole equations in numpy); `ReplayBuffer` keeps
what `add` and `sample` do in SB3 (circular numpy storage, `np.random.randint` indices, float32
observations/rewards/dones as (batch, 1) tensors, int64 actions (batch, 1)). The episode
statistics printing and tensorboard writes are left out. total_timesteps 500000 -> 60,
learning_starts 10000 -> 20, target_network_frequency 500 -> 20, batch_size 128 -> 16,
buffer_size 10000 -> 100; train_frequency 10, gamma 0.99, tau 1.0, lr 2.5e-4, the epsilon
schedule and the QNetwork (4 -> 120 -> 84 -> 2) are the script's, as is the loop body (TD target
under `torch.no_grad()`, `F.mse_loss(td_target, old_val)`, zero_grad/backward/step, soft copy of
the target network): 3 optimizer steps.

Watch options: `watched(q_network, optimizer)` (functional `F.mse_loss`, no loss module).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import random
from collections import namedtuple
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

from bugcases.corpus._cartpole import CartPole

SOURCE = {"repo": "vwxyzjn/cleanrl", "path": "cleanrl/dqn.py",
          "commit": "fe8d8a03c41a7ef5b523e2e354bd01c363e786bb"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out
    "q-values-not-squeezed": ("loss-shape-mismatch", 0),  # old_val = ...gather(1, data.actions) without .squeeze(): (B, 1) vs (B,)
}


class _Discrete:
    def __init__(self, n, seed):
        self.n = n
        self.rng = np.random.RandomState(seed)

    def sample(self):
        return self.rng.randint(self.n)


class SyncVectorEnv:
    """One CartPole behind gymnasium 0.29's SyncVectorEnv interface (what dqn.py uses of it)."""

    def __init__(self, seed):
        self.env = CartPole()
        self.num_envs = 1
        self.single_observation_space = SimpleNamespace(shape=(4,))
        self.single_action_space = _Discrete(2, seed)

    def reset(self, seed=None):
        obs, _ = self.env.reset(seed=seed)
        return obs[None], {}

    def step(self, actions):
        obs, reward, terminated, truncated, _ = self.env.step(int(actions[0]))
        infos = {}
        if terminated or truncated:
            infos["final_observation"] = np.array([obs], dtype=object)
            obs, _ = self.env.reset()
        return obs[None], np.array([reward]), np.array([terminated]), np.array([truncated]), infos


ReplayBufferSamples = namedtuple("ReplayBufferSamples", ["observations", "actions", "next_observations", "dones", "rewards"])


class ReplayBuffer:
    """stable-baselines3's ReplayBuffer for one env, Box observations and a Discrete action."""

    def __init__(self, buffer_size, observation_space, action_space, device, handle_timeout_termination=False):
        self.buffer_size, self.device, self.pos, self.full = buffer_size, device, 0, False
        self.observations = np.zeros((buffer_size, 1, *observation_space.shape), dtype=np.float32)
        self.next_observations = np.zeros((buffer_size, 1, *observation_space.shape), dtype=np.float32)
        self.actions = np.zeros((buffer_size, 1, 1), dtype=np.int64)
        self.rewards = np.zeros((buffer_size, 1), dtype=np.float32)
        self.dones = np.zeros((buffer_size, 1), dtype=np.float32)

    def add(self, obs, next_obs, action, reward, done, infos):
        self.observations[self.pos] = np.array(obs)
        self.next_observations[self.pos] = np.array(next_obs)
        self.actions[self.pos] = np.array(action).reshape(1, 1)
        self.rewards[self.pos] = np.array(reward)
        self.dones[self.pos] = np.array(done)
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full, self.pos = True, 0

    def sample(self, batch_size):
        upper_bound = self.buffer_size if self.full else self.pos
        batch_inds = np.random.randint(0, upper_bound, size=batch_size)
        env_indices = np.zeros(batch_size, dtype=np.int64)
        data = (self.observations[batch_inds, env_indices, :],
                self.actions[batch_inds, env_indices, :],
                self.next_observations[batch_inds, env_indices, :],
                self.dones[batch_inds, env_indices].reshape(-1, 1),
                self.rewards[batch_inds, env_indices].reshape(-1, 1))
        return ReplayBufferSamples(*tuple(torch.tensor(d, device=self.device) for d in data))


# ALGO LOGIC: initialize agent here:
class QNetwork(nn.Module):
    def __init__(self, env):
        super().__init__()
        self.network = nn.Sequential(
            nn.Linear(np.array(env.single_observation_space.shape).prod(), 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, env.single_action_space.n),
        )

    def forward(self, x):
        return self.network(x)


def linear_schedule(start_e: float, end_e: float, duration: int, t: int):
    slope = (end_e - start_e) / duration
    return max(slope * t + start_e, end_e)


def run(watched, bug=None):
    args = SimpleNamespace(seed=1, total_timesteps=60, learning_rate=2.5e-4, num_envs=1, buffer_size=100,
                           gamma=0.99, tau=1.0, target_network_frequency=20, batch_size=16, start_e=1,
                           end_e=0.05, exploration_fraction=0.5, learning_starts=20, train_frequency=10)
    # TRY NOT TO MODIFY: seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    device = torch.device("cpu")

    # env setup
    envs = SyncVectorEnv(args.seed)

    q_network = QNetwork(envs).to(device)
    optimizer = optim.Adam(q_network.parameters(), lr=args.learning_rate)
    target_network = QNetwork(envs).to(device)
    target_network.load_state_dict(q_network.state_dict())

    rb = ReplayBuffer(
        args.buffer_size,
        envs.single_observation_space,
        envs.single_action_space,
        device,
        handle_timeout_termination=False,
    )
    losses = []

    with watched(q_network, optimizer):
        # TRY NOT TO MODIFY: start the game
        obs, _ = envs.reset(seed=args.seed)
        for global_step in range(args.total_timesteps):
            # ALGO LOGIC: put action logic here
            epsilon = linear_schedule(args.start_e, args.end_e, args.exploration_fraction * args.total_timesteps, global_step)
            if random.random() < epsilon:
                actions = np.array([envs.single_action_space.sample() for _ in range(envs.num_envs)])
            else:
                q_values = q_network(torch.Tensor(obs).to(device))
                actions = torch.argmax(q_values, dim=1).cpu().numpy()

            # TRY NOT TO MODIFY: execute the game and log data.
            next_obs, rewards, terminations, truncations, infos = envs.step(actions)

            # TRY NOT TO MODIFY: save data to reply buffer; handle `final_observation`
            real_next_obs = next_obs.copy()
            for idx, trunc in enumerate(truncations):
                if trunc:
                    real_next_obs[idx] = infos["final_observation"][idx]
            rb.add(obs, real_next_obs, actions, rewards, terminations, infos)

            # TRY NOT TO MODIFY: CRUCIAL step easy to overlook
            obs = next_obs

            # ALGO LOGIC: training.
            if global_step > args.learning_starts:
                if global_step % args.train_frequency == 0:
                    data = rb.sample(args.batch_size)
                    with torch.no_grad():
                        target_max, _ = target_network(data.next_observations).max(dim=1)
                        td_target = data.rewards.flatten() + args.gamma * target_max * (1 - data.dones.flatten())
                    if bug == "q-values-not-squeezed":
                        old_val = q_network(data.observations).gather(1, data.actions)
                    else:
                        old_val = q_network(data.observations).gather(1, data.actions).squeeze()
                    loss = F.mse_loss(td_target, old_val)

                    # optimize the model
                    if bug != "missing-zero-grad":
                        optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    losses.append(loss.item())

                # update target network
                if global_step % args.target_network_frequency == 0:
                    for target_network_param, q_network_param in zip(target_network.parameters(), q_network.parameters()):
                        target_network_param.data.copy_(
                            args.tau * q_network_param.data + (1.0 - args.tau) * target_network_param.data
                        )
    return losses

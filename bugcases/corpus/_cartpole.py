"""A stand-in for gym's `CartPole-v1` (not a corpus loop): the same dynamics, written in numpy.

The REINFORCE and actor-critic loops call `env.reset()` and `env.step(action)` with gym's
0.26 API (`state, info = env.reset()`, `state, reward, terminated, truncated, info =
env.step(action)`). Gym is not installed here, so this class runs the equations of
gym/envs/classic_control/cartpole.py (Euler integration, tau 0.02, force 10, pole half-length
0.5, termination at |x| > 2.4 or |theta| > 12 degrees, reward 1 per step, a reset state drawn
uniformly in [-0.05, 0.05]^4), seeded by `reset(seed=...)` so every run is identical.
"""

from __future__ import annotations

import math

import numpy as np


class CartPole:
    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    theta_threshold_radians = 12 * 2 * math.pi / 360
    x_threshold = 2.4
    reward_threshold = 475.0  # CartPole-v1's env.spec.reward_threshold

    def __init__(self):
        self.np_random = np.random.RandomState(0)
        self.state = None
        self.spec = self

    def reset(self, seed=None):
        if seed is not None:
            self.np_random = np.random.RandomState(seed)
        self.state = self.np_random.uniform(low=-0.05, high=0.05, size=(4,))
        return np.array(self.state, dtype=np.float32), {}

    def step(self, action):
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if action == 1 else -self.force_mag
        total_mass = self.masspole + self.masscart
        polemass_length = self.masspole * self.length
        costheta, sintheta = math.cos(theta), math.sin(theta)
        temp = (force + polemass_length * theta_dot ** 2 * sintheta) / total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * costheta ** 2 / total_mass))
        xacc = temp - polemass_length * thetaacc * costheta / total_mass
        x = x + self.tau * x_dot
        x_dot = x_dot + self.tau * xacc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * thetaacc
        self.state = (x, x_dot, theta, theta_dot)
        terminated = bool(x < -self.x_threshold or x > self.x_threshold
                          or theta < -self.theta_threshold_radians or theta > self.theta_threshold_radians)
        return np.array(self.state, dtype=np.float32), 1.0, terminated, False, {}

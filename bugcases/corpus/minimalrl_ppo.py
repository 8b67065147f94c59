"""seungeunrho/minimalRL ppo.py: PPO with GAE and a clipped surrogate on CartPole-v1, K_epoch
passes over each T_horizon rollout.

Read at commit c8efed8481e3cd40e9739cfde220a55522555b57 of https://github.com/seungeunrho/minimalRL.

Changed: environment, width and episodes only. gym's `CartPole-v1` is not installed:
`bugcases.corpus._cartpole.CartPole` runs gym's CartPole equations in numpy with gym's 0.26
reset/step API (seeded). 10000 episodes -> 2 (the loop still runs `train_net()` after every
T_horizon=20 steps or at the episode's end: 3 optimizer steps each); fc1 256 -> 32 units.
Hyperparameters (lr 0.0005, gamma 0.98, lmbda 0.95, eps_clip 0.1, K_epoch 3, T_horizon 20),
`make_batch`, `train_net` (TD target, GAE computed in numpy, ratio, clipped surrogate plus
`F.smooth_l1_loss` value loss, `loss.mean().backward()`) and the rollout loop are the script's.
Printing is left out.

Watch options: `watched(model, model.optimizer)` (the loss is written by hand).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.distributions import Categorical

from bugcases.corpus._cartpole import CartPole

SOURCE = {"repo": "seungeunrho/minimalRL", "path": "ppo.py",
          "commit": "c8efed8481e3cd40e9739cfde220a55522555b57"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # self.optimizer.zero_grad() left out of train_net
}

#Hyperparameters
learning_rate = 0.0005
gamma         = 0.98
lmbda         = 0.95
eps_clip      = 0.1
K_epoch       = 3
T_horizon     = 20


class PPO(nn.Module):
    def __init__(self, bug=None):
        super(PPO, self).__init__()
        self.data = []
        self.bug = bug
        self.losses = []

        self.fc1   = nn.Linear(4,32)
        self.fc_pi = nn.Linear(32,2)
        self.fc_v  = nn.Linear(32,1)
        self.optimizer = optim.Adam(self.parameters(), lr=learning_rate)

    def pi(self, x, softmax_dim = 0):
        x = F.relu(self.fc1(x))
        x = self.fc_pi(x)
        prob = F.softmax(x, dim=softmax_dim)
        return prob

    def v(self, x):
        x = F.relu(self.fc1(x))
        v = self.fc_v(x)
        return v

    def put_data(self, transition):
        self.data.append(transition)

    def make_batch(self):
        s_lst, a_lst, r_lst, s_prime_lst, prob_a_lst, done_lst = [], [], [], [], [], []
        for transition in self.data:
            s, a, r, s_prime, prob_a, done = transition

            s_lst.append(s)
            a_lst.append([a])
            r_lst.append([r])
            s_prime_lst.append(s_prime)
            prob_a_lst.append([prob_a])
            done_mask = 0 if done else 1
            done_lst.append([done_mask])

        s,a,r,s_prime,done_mask, prob_a = torch.tensor(s_lst, dtype=torch.float), torch.tensor(a_lst), \
                                          torch.tensor(r_lst), torch.tensor(s_prime_lst, dtype=torch.float), \
                                          torch.tensor(done_lst, dtype=torch.float), torch.tensor(prob_a_lst)
        self.data = []
        return s, a, r, s_prime, done_mask, prob_a

    def train_net(self):
        s, a, r, s_prime, done_mask, prob_a = self.make_batch()

        for i in range(K_epoch):
            td_target = r + gamma * self.v(s_prime) * done_mask
            delta = td_target - self.v(s)
            delta = delta.detach().numpy()

            advantage_lst = []
            advantage = 0.0
            for delta_t in delta[::-1]:
                advantage = gamma * lmbda * advantage + delta_t[0]
                advantage_lst.append([advantage])
            advantage_lst.reverse()
            advantage = torch.tensor(advantage_lst, dtype=torch.float)

            pi = self.pi(s, softmax_dim=1)
            pi_a = pi.gather(1,a)
            ratio = torch.exp(torch.log(pi_a) - torch.log(prob_a))  # a/b == exp(log(a)-log(b))

            surr1 = ratio * advantage
            surr2 = torch.clamp(ratio, 1-eps_clip, 1+eps_clip) * advantage
            loss = -torch.min(surr1, surr2) + F.smooth_l1_loss(self.v(s) , td_target.detach())

            if self.bug != "missing-zero-grad":
                self.optimizer.zero_grad()
            loss.mean().backward()
            self.optimizer.step()
            self.losses.append(loss.mean().item())


def run(watched, bug=None):
    torch.manual_seed(0)
    env = CartPole()
    env.reset(seed=0)
    model = PPO(bug)
    score = 0.0
    print_interval = 20

    with watched(model, model.optimizer):
        for n_epi in range(2):
            s, _ = env.reset()
            done = False
            while not done:
                for t in range(T_horizon):
                    prob = model.pi(torch.from_numpy(s).float())
                    m = Categorical(prob)
                    a = m.sample().item()
                    s_prime, r, done, truncated, info = env.step(a)

                    model.put_data((s, a, r/100.0, s_prime, prob[a].item(), done))
                    s = s_prime

                    score += r
                    if done:
                        break

                model.train_net()

            if n_epi%print_interval==0 and n_epi!=0:
                score = 0.0
    return model.losses

"""vwxyzjn/cleanrl#494: PQN's Q(lambda) return is not masked at episode ends.

Source: https://github.com/vwxyzjn/cleanrl/pull/494 ("Fix: PQN needs to mask the return computation
if next state is done", merged as commit 1ed80620842b4cdeb1edc07e12825dff18091da9). The PR:
"`nextnonterminal` is currently used to mask the next value prediction [...] but it should also mask
the next return":

    returns[t] = rewards[t] + args.gamma * (
        args.q_lambda * returns[t + 1] + (1 - args.q_lambda) * next_value * nextnonterminal)

With the fix, `* nextnonterminal` multiplies the whole bracket. The PR's regression run changed the
documented CartPole-v1 episode reward from 408.14 +/- 128.42 to 495.13 +/- 6.89 (and, on Atari,
SpaceInvaders 900.07 -> 1325.20, BeamRider 1987.97 -> 5753.03).

Root cause: in a rollout of vectorized environments, returns[t + 1] after a terminal step belongs
to the next episode (the environment reset), so a terminal transition's target gets
gamma * lambda * (the next episode's return) added to its reward.

Reduced version: cleanrl's pqn.py loop (vectorized environments with auto-reset, epsilon-greedy
with a linear schedule, Q(lambda) targets over a rollout, update_epochs passes of minibatches,
RAdam, LayerNorm Q-network, grad-norm clipping) on a 5-state chain: "right" moves toward a goal
worth +1 (terminal), "quit" ends the episode with reward 0. The true value of quitting is 0
everywhere; the buggy targets give it gamma * lambda times the value of a fresh episode, and the
leak compounds: the learned values climb above 1, the largest return any episode can earn.
"""

import torch
import torch.nn.functional as F
from torch import nn, optim

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

STATES, RIGHT, QUIT = 5, 0, 1
GAMMA, Q_LAMBDA = 0.99, 0.65
NUM_ENVS, NUM_STEPS, UPDATE_EPOCHS, MAX_GRAD_NORM = 4, 32, 4, 10.0
START_E, END_E, EXPLORATION_FRACTION = 1.0, 0.05, 0.5


class ChainEnvs:
    """NUM_ENVS chains, each starting in state 0; RIGHT from the last state reaches the goal (+1,
    terminal); QUIT ends the episode (0). A finished environment resets at once, as gym's vector
    environments do: the observation returned is the new episode's first."""

    def __init__(self, device) -> None:
        self.device = device
        self.state = torch.zeros(NUM_ENVS, dtype=torch.long, device=device)

    def obs(self):
        return F.one_hot(self.state, STATES).float()

    def step(self, action):
        at_goal = (self.state == STATES - 1) & (action == RIGHT)
        done = at_goal | (action == QUIT)
        reward = at_goal.float()
        self.state = torch.where(done, torch.zeros_like(self.state), (self.state + 1).clamp(max=STATES - 1))
        return self.obs(), reward, done.float()


def q_network() -> nn.Module:
    return nn.Sequential(nn.Linear(STATES, 32), nn.LayerNorm(32), nn.ReLU(), nn.Linear(32, 2))


def buggy_returns(rewards, dones, values, next_value, next_done):
    returns = torch.zeros_like(rewards)
    for t in reversed(range(NUM_STEPS)):
        if t == NUM_STEPS - 1:
            nextnonterminal = 1.0 - next_done
            returns[t] = rewards[t] + GAMMA * next_value * nextnonterminal
        else:
            nextnonterminal = 1.0 - dones[t + 1]
            next_value = values[t + 1]
            returns[t] = rewards[t] + GAMMA * (
                Q_LAMBDA * returns[t + 1] + (1 - Q_LAMBDA) * next_value * nextnonterminal)
    return returns


def fixed_returns(rewards, dones, values, next_value, next_done):
    returns = torch.zeros_like(rewards)
    for t in reversed(range(NUM_STEPS)):
        if t == NUM_STEPS - 1:
            nextnonterminal = 1.0 - next_done
            returns[t] = rewards[t] + GAMMA * next_value * nextnonterminal
        else:
            nextnonterminal = 1.0 - dones[t + 1]
            next_value = values[t + 1]
            returns[t] = (
                rewards[t]
                + GAMMA * (Q_LAMBDA * returns[t + 1] + (1 - Q_LAMBDA) * next_value) * nextnonterminal)
    return returns


def _train(compute_returns):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        seed_everything(config.seed)
        envs, q_net = ChainEnvs(device), q_network().to(device)
        optimizer = optim.RAdam(q_net.parameters(), lr=config.lr)
        batch = NUM_ENVS * NUM_STEPS
        minibatch = config.batch_size  # batch // num_minibatches in cleanrl (128 // 4)
        iterations = config.epochs * (config.train_samples // batch)
        obs_buf = torch.zeros(NUM_STEPS, NUM_ENVS, STATES, device=device)
        actions, rewards, dones, values = (torch.zeros(NUM_STEPS, NUM_ENVS, device=device) for _ in range(4))
        next_obs, next_done = envs.obs(), torch.zeros(NUM_ENVS, device=device)
        global_step, iteration = 0, 0
        with watched_run(config, q_net, optimizer) as result:
            for _ in epochs(config):
                total, steps = 0.0, 0
                for _ in limited(range(config.train_samples // batch), config.max_steps):
                    iteration += 1
                    optimizer.param_groups[0]["lr"] = (1.0 - (iteration - 1.0) / iterations) * config.lr
                    for step in range(NUM_STEPS):
                        global_step += NUM_ENVS
                        obs_buf[step], dones[step] = next_obs, next_done
                        duration = EXPLORATION_FRACTION * iterations * batch
                        epsilon = max(END_E, START_E + (END_E - START_E) * global_step / duration)
                        with torch.no_grad():
                            q_values = q_net(next_obs)
                        max_actions = q_values.argmax(1)
                        values[step] = q_values.gather(1, max_actions.view(-1, 1)).squeeze(1)
                        explore = torch.rand(NUM_ENVS, device=device) < epsilon
                        action = torch.where(explore, torch.randint(0, 2, (NUM_ENVS,), device=device), max_actions)
                        actions[step] = action
                        next_obs, rewards[step], next_done = envs.step(action)
                    with torch.no_grad():
                        next_value = q_net(next_obs).max(1).values
                        returns = compute_returns(rewards, dones, values, next_value, next_done)
                    b_obs, b_actions, b_returns = obs_buf.reshape(-1, STATES), actions.reshape(-1), returns.reshape(-1)
                    for _ in range(UPDATE_EPOCHS):
                        for mb in torch.randperm(batch, device=device).split(minibatch):
                            old_val = q_net(b_obs[mb]).gather(1, b_actions[mb].long().view(-1, 1)).squeeze(1)
                            loss = F.mse_loss(b_returns[mb], old_val)
                            optimizer.zero_grad()
                            loss.backward()
                            nn.utils.clip_grad_norm_(q_net.parameters(), MAX_GRAD_NORM)
                            optimizer.step()
                            total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
        with torch.no_grad():
            q = q_net(torch.eye(STATES, device=device)).cpu()
        optimal_right = torch.tensor([GAMMA ** (STATES - 1 - s) for s in range(STATES)])
        result.extra["q_quit"] = q[:, QUIT].tolist()
        result.extra["q_quit_mean"] = q[:, QUIT].mean().item()  # the true value is 0
        result.extra["q_right_error"] = (q[:, RIGHT] - optimal_right).abs().max().item()
        result.extra["q_max"] = q.max().item()  # no return in this chain exceeds 1
        return result

    return train


def _terminal_values_leak(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["q_quit_mean"], results["fixed"].extra["q_quit_mean"]
    assert abs(fixed) < 0.1, f"fixed: expected Q(s, quit) near its true value 0 (|mean| < 0.1), found {fixed:.3f}"
    assert buggy > 0.3, (
        f"buggy: expected Q(s, quit) to carry the next episode's return (mean > 0.3, true value 0), found {buggy:.3f}")
    buggy_max, fixed_max = results["buggy"].extra["q_max"], results["fixed"].extra["q_max"]
    assert buggy_max > 1.1 and fixed_max < 1.05, (
        f"expected buggy's largest Q above the largest possible return 1 (> 1.1) and fixed's at most 1.05, "
        f"found {buggy_max:.3f} and {fixed_max:.3f}")


NOTE = "a chain MDP in memory; it reads no images"

CASE = BugCase(
    id="cleanrl-494-pqn-lambda-return-done-mask",
    domain="reinforcement",
    added="2026-12-03",
    title="Q(lambda) return not masked at episode ends: the next episode's return leaks into terminal targets",
    source="https://github.com/vwxyzjn/cleanrl/pull/494",
    root_cause="nextnonterminal masks only the bootstrapped value, not lambda * returns[t + 1], so after a reset the "
               "next episode's return is added to a terminal transition's target.",
    documented="PQN CartPole-v1 episode reward 408.14 +/- 128.42 before the fix, 495.13 +/- 6.89 after "
               "(SpaceInvaders 900.07 -> 1325.20, BeamRider 1987.97 -> 5753.03), commit 1ed8062",
    variants=(
        Variant("buggy", _train(buggy_returns),
                "gamma * (lambda * returns[t+1] + (1 - lambda) * next_value * nonterminal)"),
        Variant("fixed", _train(fixed_returns),
                "gamma * (lambda * returns[t+1] + (1 - lambda) * next_value) * nonterminal"),
    ),
    tiers={
        "quick": RunConfig(lr=2.5e-3, epochs=2, batch_size=32, train_samples=512),
        "gpu": RunConfig(lr=2.5e-3, epochs=20, batch_size=32, train_samples=1024, device="cuda", tier="gpu"),
    },
    claims=(
        Claim("terminal values leak the next episode's return", ("buggy", "fixed"), _terminal_values_leak,
              measures=("extra.q_quit_mean", "extra.q_max"), overrides={"quick": {"epochs": 12}}, tiers=("slow", "gpu"),
              sources=("synthetic",), real_note=NOTE),
    ),
    names=(),
)

"""The agent's parts: actor kinds, double critic, reward designs, exploration (learners: d2rl_jax.learners)."""

from d2rl_jax.agents.actors import Actor, make_actor
from d2rl_jax.agents.critic import DoubleCritic, LocalDoubleCritic, make_critic
from d2rl_jax.agents.exploration import explore, noise_std_at
from d2rl_jax.agents.rewards import RewardModel, RewardState, compute_reward

__all__ = ["Actor", "DoubleCritic", "LocalDoubleCritic", "RewardModel", "RewardState", "compute_reward", "explore",
           "make_actor", "make_critic", "noise_std_at"]

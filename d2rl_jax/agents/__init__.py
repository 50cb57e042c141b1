"""The DDPG agent: actor kinds, double critic, losses, reward designs, exploration."""

from d2rl_jax.agents.actors import Actor, make_actor
from d2rl_jax.agents.critic import DoubleCritic
from d2rl_jax.agents.exploration import explore
from d2rl_jax.agents.losses import actor_loss, critic_loss
from d2rl_jax.agents.rewards import RewardModel, RewardState, compute_reward

__all__ = ["Actor", "DoubleCritic", "RewardModel", "RewardState", "actor_loss", "compute_reward", "critic_loss",
           "explore", "make_actor"]

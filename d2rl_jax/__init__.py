"""d2rl-jax: a JAX-accelerated simulator and trainer for diffusion-enhanced DRL in full-duplex wireless."""

__version__ = "0.1.0"

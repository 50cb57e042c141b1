"""The compiled training loop and its parts: `make_train` (loop.py), the held-out evaluation (evaluation.py),
and the loop's optional components, drift (drift.py) and GDM state exploration (state_exploration.py)."""

from d2rl_jax.training.evaluation import EvalBatch, held_out_batch, make_eval_batch, use_reference_store
from d2rl_jax.training.loop import RunState, TrainFns, hparams_to_arrays, make_train, seed_keys, stack_hparams

__all__ = ["EvalBatch", "RunState", "TrainFns", "held_out_batch", "hparams_to_arrays", "make_eval_batch", "make_train",
           "seed_keys", "stack_hparams", "use_reference_store"]

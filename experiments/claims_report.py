"""Every claim of the paper decided over several scales of runs: one table, regenerated from committed results.

    python -m experiments.claims_report --spec benchmarks/results/claims_scales.json --out docs/claims.md

The spec lists the scales in order of preference; the rules that judge each claim at each scale and merge the
scales without picking are `experiments.claim_scales`'.
"""

from __future__ import annotations

from absl import app, flags

from d2rl_jax.run.io import write_text_atomic
from experiments.claim_scales import claims_markdown, load_scales
from experiments.common import run_cli

FLAGS = flags.FLAGS
flags.DEFINE_string("spec", None, "JSON list of scales (experiments/claim_scales.py).")
flags.DEFINE_string("out", "docs/claims.md", "Where the table goes.")
flags.mark_flag_as_required("spec")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        scales = load_scales(FLAGS.spec)
    except (OSError, ValueError, KeyError) as err:
        raise app.UsageError(f"--spec={FLAGS.spec}: {err}") from None
    print(f"wrote {write_text_atomic(FLAGS.out, claims_markdown(scales))}", flush=True)


if __name__ == "__main__":
    run_cli(main)

"""Small in-loop helpers every higher layer uses: networks (MLP), the AdamW step, the device replay buffer,
running moments, and per-layer gradient metrics."""

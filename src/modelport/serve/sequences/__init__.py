"""The sequence batcher: stateful models whose requests form sequences (Triton's
``sequence_batching``). ``scheduler.SequenceScheduler`` is what a model version uses instead of
the dynamic batcher; the other modules are its parts."""

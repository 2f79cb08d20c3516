"""transformers internals and recently renamed arguments stylegen relies on (5.2 to 5.24).

* Training arguments renamed in 5.x (``stylegen.training.trainer``): ``group_by_length=True``
  became ``train_sampling_strategy="group_by_length"`` (5.2) and ``warmup_ratio`` became a
  fractional ``warmup_steps``: :func:`renamed_training_args`.
* :func:`use_attention`: registers an attention function under a new name
  (``AttentionInterface`` and, for its masks, ``AttentionMaskInterface`` as SDPA's) and sets
  it as a loaded model's implementation (``set_attn_implementation``); the forward pass's
  extra keywords reach it (the engine's KV cache, :mod:`stylegen.generation.rowcache`).
* :func:`early_stopping`: ``EarlyStoppingCallback`` without its ``on_train_begin``, which
  only warns about ``load_best_model_at_end`` and asserts settings stylegen always sets.

``tests/test_compat.py`` checks each of these against the installed transformers.
"""
from __future__ import annotations


def use_attention(model, name: str, function) -> None:
    """Make ``function`` (transformers' attention signature) ``model``'s attention, as ``name``.

    Raises:
        ValueError: the model's architecture does not dispatch attention through
            ``AttentionInterface`` (it would silently ignore ``function``).
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(name, function)
    AttentionMaskInterface.register(name, sdpa_mask)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not base._can_set_attn_implementation():
        raise ValueError(f"{type(base).__name__} does not take a pluggable attention function")
    base.set_attn_implementation(name)


def renamed_training_args(group_by_length: bool, warmup_ratio: float) -> dict:
    """``TrainingArguments`` keywords for two settings whose names changed in transformers 5.x.

    Args:
        group_by_length: batch examples of similar length together (``LengthGroupedSampler``).
        warmup_ratio: linear warmup over this fraction (0 to 1) of the optimizer steps.
    """
    return {"train_sampling_strategy": "group_by_length" if group_by_length else "random",
            "warmup_steps": warmup_ratio}


def early_stopping(patience: int):
    """transformers' ``EarlyStoppingCallback`` on eval loss, without its start-of-training checks.

    Its ``on_train_begin`` warns unless ``load_best_model_at_end`` is set; stylegen brings
    the best weights back itself (that setting would force a checkpoint at every
    evaluation instead of every ``save_steps``) and always sets ``metric_for_best_model``
    and an eval strategy when it adds the callback, which is all the method asserts.
    """
    from transformers import EarlyStoppingCallback

    class EarlyStopping(EarlyStoppingCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            pass

    return EarlyStopping(patience)

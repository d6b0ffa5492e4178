"""Build a tiny random-weight Llama chat model locally (no downloads) for tests and dev runs.

The tokenizer is a ByteLevel BPE trained with ``tokenizers`` on the Python standard library's
own source files, wrapped as a ``PreTrainedTokenizerFast`` with a ChatML chat template. The model
is a ``LlamaForCausalLM`` with seeded random weights (hidden 128, 2 layers, head_dim 64,
vocab 2048, float32): about 1 MB, built in seconds. Its text is gibberish; vLLM's structured
outputs still make its answers well-formed, which is what pipeline tests need.

Usage::

    python -m generators.tiny_model /tmp/tiny-llm      # or: curator make-tiny-model DIR
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

VOCAB_SIZE = 2048
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_MARKER = "edu_curator_tiny_model.txt"


def _training_text(max_files: int = 60) -> list[str]:
    """Deterministic local training text: sorted stdlib sources (plus a fixed English paragraph)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py"))[:max_files]
    texts = [
        "The water cycle describes how water evaporates, condenses into clouds and falls as rain. "
        "Students learn that photosynthesis turns light into chemical energy. A theorem is proved step by step. "
        '{"score": 3, "justification": "clear explanation"} question answer exercise solution'
    ] * 50
    for p in files:
        try:
            texts.append(p.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return texts


def build_tiny_model(out_dir: str | Path, seed: int = 0, vocab_size: int = VOCAB_SIZE) -> Path:
    """Build the tiny tokenizer + model into ``out_dir`` (idempotent: an existing build is reused).

    Args:
        out_dir: target directory (created).
        seed: torch seed for the random weights.
        vocab_size: BPE vocabulary size (also the model's).

    Returns:
        The directory, loadable by ``transformers`` and ``vllm`` as a local model path.
    """
    out = Path(out_dir)
    if (out / _MARKER).exists() and (out / "config.json").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)

    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_training_text(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=4096,
        bos_token_id=fast.convert_tokens_to_ids("<|im_start|>"),
        eos_token_id=fast.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=fast.convert_tokens_to_ids("<|endoftext|>"),
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    model = LlamaForCausalLM(config).to(torch.float32)
    model.save_pretrained(out, safe_serialization=True)
    (out / _MARKER).write_text(f"tiny random-weight Llama, seed={seed}, vocab={vocab_size}\n")
    return out


if __name__ == "__main__":  # pragma: no cover
    print(build_tiny_model(sys.argv[1] if len(sys.argv) > 1 else "tiny-llm"))

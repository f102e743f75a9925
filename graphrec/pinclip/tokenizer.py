"""A WordPiece tokenizer built on the catalogue text with the `tokenizers` library.

transformers 5 ignores vocab_file=/merges_file= kwargs (every token becomes id 2, see STACK.md),
so the tokenizer is built with `tokenizers` and wrapped in PreTrainedTokenizerFast. Sequences are
``[BOS] text [EOS]``; the text tower's eos_token_id is set to this tokenizer's [EOS] so CLIP's
pooled output reads the EOS position rather than position 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import AutoTokenizer, PreTrainedTokenizerFast

SPECIALS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]


def _normalizer() -> normalizers.Normalizer:
    return normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(), normalizers.StripAccents()])


def word_counts(texts: Sequence[str], block: int = 10_000) -> Counter:
    """Counts of pre-tokenised words (same normaliser and pre-tokeniser as the tokenizer)."""
    norm, pre = _normalizer(), pre_tokenizers.BertPreTokenizer()
    counts: Counter = Counter()
    for a in range(0, len(texts), block):
        joined = norm.normalize_str(" ".join(texts[a : a + block]))
        counts.update(w for w, _ in pre.pre_tokenize_str(joined))
    return counts


def train_tokenizer(texts: Sequence[str], vocab_size: int, min_frequency: int) -> PreTrainedTokenizerFast:
    """A WordPiece tokenizer whose vocabulary is built deterministically from ``texts``.

    The `tokenizers` trainers break ties through hash maps with random seeds, so the same corpus
    gives different vocabularies from run to run. Here the vocabulary is: the special tokens,
    every character seen (alone and as a ``##`` continuation, so any word can be spelled), then
    whole words with at least ``min_frequency`` occurrences, most frequent first (ties by text),
    up to ``vocab_size``.
    """
    counts = word_counts(list(texts))
    chars = sorted({c for w in counts for c in w})
    vocab = SPECIALS + chars + [f"##{c}" for c in chars]
    seen = set(vocab)
    words = sorted((w for w, n in counts.items() if n >= min_frequency and len(w) > 1), key=lambda w: (-counts[w], w))
    for w in words:
        if len(vocab) >= vocab_size:
            break
        if w not in seen:
            vocab.append(w)
            seen.add(w)
    tok = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = _normalizer()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    bos, eos = vocab.index("[BOS]"), vocab.index("[EOS]")
    tok.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", special_tokens=[("[BOS]", bos), ("[EOS]", eos)]
    )
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]", eos_token="[EOS]"
    )


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    """Load a tokenizer saved with ``save_pretrained`` from a local folder (never the hub)."""
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def pin_texts(titles: Sequence[str], descriptions: Sequence[str]) -> list[str]:
    """The text a pin is encoded from: ``title. description``."""
    return [f"{t}. {d}" if d else str(t) for t, d in zip(titles, descriptions)]

"""A small llama-architecture GGUF made here: random weights (seeded), a real SentencePiece-style tokenizer
section, a chat template. Nothing is downloaded; llama.cpp loads it like any published model.

The tokenizer ("llama", llama.cpp's SPM tokenizer) holds the control tokens, the 256 byte-fallback tokens,
every printable ASCII character, and every prefix of a list of English words ("▁r", "▁ri", ... "▁river"): the
SPM tokenizer merges adjacent pieces only into pieces that are in the vocabulary, so the prefixes are the path
by which a word becomes one token. The benchmark's prompts are made of these words, so a prompt of N words is
about N tokens, as with a real model.

The output rows of every token that is not a plain word piece (control, byte, unknown) are zero, so under
greedy decoding the model never ends a reply early (EOS) and never emits a lone byte that is not valid
UTF-8: each generated token is one streamed chunk, which lets the client's count be checked against the
server's.

Files are cached under the cache dir by the hash of their recipe (`ModelRecipe.key`); a cached file whose
bytes no longer match the hash recorded beside it is made again.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

from ..state import atomic_write_bytes, atomic_write_text
from ..paths import cache_dir
from . import LlamaError

FORMAT_VERSION = 1  # bump when the file this module writes changes for the same recipe
SPACE = "\u2581"  # SentencePiece's word-boundary mark
WORDS = (
    # the benchmark prompt's words (bench/workloads/llm.py) and chat-template words first
    "time", "river", "light", "stone", "number", "garden", "window", "market", "signal", "forest",
    "engine", "paper", "silver", "orbit", "harbor", "pattern", "winter", "bridge", "cloud", "letter",
    "Continue", "Request", "user", "assistant", "system",
    "the", "sky", "is", "blue", "because", "of", "rayleigh", "scattering", "waves", "and", "a", "to", "in",
    "it", "that", "was", "for", "on", "are", "with", "as", "be", "at", "one", "have", "this", "from", "by",
    "hot", "word", "but", "what", "some", "we", "can", "out", "other", "were", "all", "there", "when", "up",
    "use", "your", "how", "said", "an", "each", "she", "which", "do", "their", "if", "will", "way", "about",
    "many", "then", "them", "would", "write", "like", "so", "these", "her", "long", "make", "thing", "see",
)
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2


@dataclass(frozen=True)
class ModelRecipe:
    """What the file is made from. Small by default: it loads in well under a second and a CPU generates
    hundreds of tokens a second with it."""

    layers: int = 4
    embedding: int = 128
    heads: int = 4
    kv_heads: int = 2
    feed_forward: int = 352
    context: int = 2048
    seed: int = 0

    def __post_init__(self) -> None:
        if self.embedding % self.heads or self.heads % self.kv_heads:
            raise ValueError("embedding must divide by heads, and heads by kv_heads")

    @property
    def key(self) -> str:
        data = json.dumps({"format": FORMAT_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:16]

    @property
    def file_name(self) -> str:
        return f"tiny-llama-{self.key}.gguf"


@dataclass(frozen=True)
class Vocabulary:
    tokens: tuple[str, ...]
    scores: tuple[float, ...]
    types: tuple[int, ...]  # gguf.TokenType values

    def ids_of_type(self, token_type: int) -> list[int]:
        return [i for i, t in enumerate(self.types) if t == token_type]


def vocabulary() -> Vocabulary:
    """Control tokens, byte fallbacks, single characters, word prefixes; scores rise with length, so the
    tokenizer prefers the longest piece."""
    from gguf import TokenType

    tokens: list[str] = ["<unk>", "<s>", "</s>"]
    types: list[int] = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    scores: list[float] = [0.0, 0.0, 0.0]
    for byte in range(256):
        tokens.append(f"<0x{byte:02X}>")
        types.append(TokenType.BYTE)
        scores.append(0.0)
    pieces = [SPACE] + [chr(c) for c in range(0x21, 0x7F)]
    for word in WORDS:
        pieces += [SPACE + word[:n] for n in range(1, len(word) + 1)]
    seen: set[str] = set()
    for piece in pieces:
        if piece in seen:
            continue
        seen.add(piece)
        tokens.append(piece)
        types.append(TokenType.NORMAL)
        scores.append(-100.0 + len(piece))
    return Vocabulary(tuple(tokens), tuple(scores), tuple(int(t) for t in types))


def write_model(path: str | Path, recipe: ModelRecipe = ModelRecipe()) -> Path:
    """Write the GGUF of `recipe` to `path` (atomically)."""
    import gguf
    import numpy as np

    vocab = vocabulary()
    rng = np.random.default_rng(recipe.seed)
    n_vocab, d, ff = len(vocab.tokens), recipe.embedding, recipe.feed_forward
    head_dim = d // recipe.heads
    kv = head_dim * recipe.kv_heads

    def weight(rows: int, cols: int, scale: float) -> np.ndarray:
        # numpy shape (out, in): gguf stores it as ggml's (in, out), the layout llama.cpp expects
        return (rng.standard_normal((rows, cols)) * scale).astype(np.float32)

    with tempfile.TemporaryDirectory(prefix="ipex-gguf-") as tmp:
        scratch = Path(tmp) / "model.gguf"
        writer = gguf.GGUFWriter(str(scratch), "llama")
        writer.add_name(f"ipex-integration tiny llama {recipe.key}")
        writer.add_context_length(recipe.context)
        writer.add_embedding_length(d)
        writer.add_block_count(recipe.layers)
        writer.add_feed_forward_length(ff)
        writer.add_head_count(recipe.heads)
        writer.add_head_count_kv(recipe.kv_heads)
        writer.add_rope_dimension_count(head_dim)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_vocab_size(n_vocab)
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)
        writer.add_tokenizer_model("llama")
        writer.add_token_list(list(vocab.tokens))
        writer.add_token_scores(list(vocab.scores))
        writer.add_token_types(list(vocab.types))
        writer.add_bos_token_id(BOS_ID)
        writer.add_eos_token_id(EOS_ID)
        writer.add_unk_token_id(UNK_ID)
        writer.add_add_bos_token(True)
        writer.add_add_eos_token(False)
        writer.add_chat_template(CHAT_TEMPLATE)

        embed = weight(n_vocab, d, 1.0)
        output = weight(n_vocab, d, 1.0 / d**0.5)
        normal = set(vocab.ids_of_type(int(gguf.TokenType.NORMAL)))
        output[[i for i in range(n_vocab) if i not in normal]] = 0.0  # see the module docstring
        writer.add_tensor("token_embd.weight", embed)
        writer.add_tensor("output_norm.weight", np.ones(d, dtype=np.float32))
        writer.add_tensor("output.weight", output)
        for b in range(recipe.layers):
            p = f"blk.{b}."
            writer.add_tensor(p + "attn_norm.weight", np.ones(d, dtype=np.float32))
            writer.add_tensor(p + "attn_q.weight", weight(d, d, d**-0.5))
            writer.add_tensor(p + "attn_k.weight", weight(kv, d, d**-0.5))
            writer.add_tensor(p + "attn_v.weight", weight(kv, d, d**-0.5))
            writer.add_tensor(p + "attn_output.weight", weight(d, d, d**-0.5))
            writer.add_tensor(p + "ffn_norm.weight", np.ones(d, dtype=np.float32))
            writer.add_tensor(p + "ffn_gate.weight", weight(ff, d, d**-0.5))
            writer.add_tensor(p + "ffn_up.weight", weight(ff, d, d**-0.5))
            writer.add_tensor(p + "ffn_down.weight", weight(d, ff, ff**-0.5))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return atomic_write_bytes(path, scratch.read_bytes())


def cached_model(recipe: ModelRecipe = ModelRecipe(), *, environ: Mapping[str, str] | None = None,
                 folder: str | Path | None = None) -> Path:
    """The GGUF of `recipe` under the cache dir (`folder` to put it elsewhere), made once per recipe.
    LlamaError when the `gguf` package is missing or the folder cannot be written."""
    base = Path(folder) if folder is not None else cache_dir(environ) / "llama" / "models"
    path = base / recipe.file_name
    digest_path = path.with_name(path.name + ".sha256")
    if path.is_file() and digest_path.is_file() and digest_path.read_text().strip() == _sha256(path):
        return path
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise LlamaError("writing the test model needs the `gguf` package",
                         hint="pip install gguf (it is in this project's [test] extra)") from None
    try:
        write_model(path, recipe)
        atomic_write_text(digest_path, _sha256(path) + "\n")
    except OSError as exc:
        raise LlamaError(f"cannot write the test model {path}: {exc.strerror or exc}",
                         hint="set IPEX_INTEGRATION_HOME to a writable folder") from None
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

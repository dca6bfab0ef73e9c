"""The torch-free EfficientNet-Lite converter: the .pth reader and the ONNX graphs it builds,
checked against torch (the dev extra) on real photos."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from lookalike.embed.decode import load_image
from lookalike.embed.lite_onnx import build_lite_onnx, feature_names, lite_blocks, stage_blocks
from lookalike.embed.onnx_export import GRAPH_VERSION, export_onnx, get_spec, weights_path
from lookalike.embed.preprocess import preprocess_batch
from lookalike.embed.torchfile import read_state_dict
from lookalike.errors import ConfigError, EmbedError

from .conftest import clothing_photos

torch = pytest.importorskip("torch", reason="the reference needs torch (dev extra)")


def _session(model: bytes | Path):  # noqa: ANN202
    import onnxruntime as ort

    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"])


def _photos(name: str, count: int = 8) -> np.ndarray:
    spec = get_spec(name)
    paths = [p for ps in clothing_photos(1, count).values() for p in ps]
    images = (load_image(p.read_bytes(), min_side=spec.resize_size) for p in paths)
    return preprocess_batch(images, resize=spec.resize_size, crop=spec.input_size)


def test_reader_matches_torch_load() -> None:
    path = weights_path(get_spec("lite0"))
    ours = read_state_dict(path)
    theirs = torch.load(path, map_location="cpu", weights_only=True)
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        assert ours[key].shape == tuple(value.shape) and ours[key].dtype == value.numpy().dtype
        np.testing.assert_array_equal(ours[key], value.numpy())


def test_reader_refuses_code_and_other_formats(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pth"
    with evil.open("wb") as handle:
        pickle.dump(0x1950A86A20F9469CFC6C, handle)
        pickle.dump(1001, handle)
        pickle.dump({}, handle)
        handle.write(pickle.dumps(print))  # any global outside the allowed few
    with pytest.raises(EmbedError, match="unexpected object"):
        read_state_dict(evil)
    zipped = tmp_path / "zip.pth"
    torch.save({"w": torch.zeros(2)}, zipped)
    with pytest.raises(EmbedError, match="zip-format"):
        read_state_dict(zipped)
    truncated = tmp_path / "cut.pth"
    truncated.write_bytes(weights_path(get_spec("lite0")).read_bytes()[:200_000])
    with pytest.raises(EmbedError):
        read_state_dict(truncated)


def _compare_with_torch_export(name: str, tmp_path: Path) -> None:
    from lookalike.embed.torch_model import export_torch_onnx, load_torch_model

    spec = get_spec(name)
    reference = export_torch_onnx(load_torch_model(name), spec.input_size, tmp_path / "t.onnx")
    batch = _photos(name)
    ours = _session(build_lite_onnx(name)).run(None, {"input": batch})[0]
    theirs = _session(reference).run(None, {"input": batch})[0]
    cosine = (
        np.sum(ours * theirs, 1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    )
    error = float(np.abs(ours - theirs).max())
    print(f"{name}: max abs error {error:.2e} (features up to {np.abs(theirs).max():.2f})")
    assert ours.shape == (len(batch), 1280)
    assert cosine.min() > 0.9999
    assert error < 1e-3


def test_lite0_matches_torch_export(tmp_path: Path) -> None:
    _compare_with_torch_export("lite0", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lite1", "lite2"])
def test_lite1_lite2_match_torch_export(name: str, tmp_path: Path) -> None:
    _compare_with_torch_export(name, tmp_path)


def test_named_intermediate_outputs_match_torch() -> None:
    from lookalike.embed.torch_model import load_torch_model

    batch = _photos("lite0", 2)
    wanted = ("stem", "block5", "stage4", "head", "embedding")
    outs = dict(
        zip(
            wanted,
            _session(build_lite_onnx("lite0", outputs=wanted)).run(None, {"input": batch}),
            strict=True,
        )
    )
    net = load_torch_model("lite0").backbone
    seen: dict[str, np.ndarray] = {}
    hooks = [
        net._blocks[5].register_forward_hook(lambda m, i, o: seen.__setitem__("block5", o)),
        net._blocks[stage_blocks("lite0")["stage4"]].register_forward_hook(
            lambda m, i, o: seen.__setitem__("stage4", o)
        ),
    ]
    with torch.no_grad():
        x = torch.from_numpy(batch)
        seen["stem"] = net._swish(net._bn0(net._conv_stem(x)))
        seen["head"] = net.extract_features(x)
    for hook in hooks:
        hook.remove()
    for key in ("stem", "block5", "stage4", "head"):
        np.testing.assert_allclose(outs[key], seen[key].numpy(), atol=2e-4, err_msg=key)
    np.testing.assert_allclose(outs["embedding"], outs["head"].mean(axis=(2, 3)), atol=1e-5)
    assert outs["head"].shape == (2, 1280, 7, 7) and outs["stage4"].shape == (2, 80, 14, 14)


def test_architecture_and_bad_requests(tmp_path: Path) -> None:
    assert [len(lite_blocks(n, get_spec(n).input_size)) for n in ("lite0", "lite1", "lite2")] == [
        16,
        21,
        21,
    ]
    assert {"embedding", "head", "stem", "block15", "stage7"} <= set(feature_names("lite0"))
    with pytest.raises(ConfigError, match="block0..block15"):
        build_lite_onnx("lite0", outputs=("block99",))
    with pytest.raises(ConfigError):
        build_lite_onnx("lite0", outputs=())
    with pytest.raises(EmbedError, match="blocks"):  # lite1's 21 blocks are not lite0's 16
        build_lite_onnx("lite0", weights=weights_path(get_spec("lite1")))


def test_export_is_cached_by_weights_version_and_outputs(tmp_path: Path) -> None:
    first = export_onnx("lite0", cache_dir=tmp_path)
    assert first.parent == tmp_path / "models" and f"-{GRAPH_VERSION}" in first.name
    stamp = first.stat().st_mtime_ns
    assert export_onnx("lite0", cache_dir=tmp_path) == first
    assert first.stat().st_mtime_ns == stamp  # reused, not rebuilt
    other = export_onnx("lite0", cache_dir=tmp_path, outputs=("head", "embedding"))
    assert other != first and [o.name for o in _session(other).get_outputs()] == [
        "head",
        "embedding",
    ]


def test_written_protobuf_passes_the_onnx_checker() -> None:
    onnx = pytest.importorskip("onnx", reason="the checker (dev extra)")
    from lookalike.embed.bert_onnx import BertConfig, build_bert_onnx
    from lookalike.embed.titles import title_model_dir

    lite = onnx.load_from_string(build_lite_onnx("lite0", outputs=("embedding", "stage3")))
    onnx.checker.check_model(lite, full_check=True)
    assert [o.name for o in lite.graph.output] == ["embedding", "stage3"]
    assert lite.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    folder = title_model_dir()
    config = BertConfig.from_json(json.loads((folder / "config.json").read_text()))
    bert = onnx.load_from_string(build_bert_onnx(folder / "model.safetensors", config))
    onnx.checker.check_model(bert, full_check=True)
    assert bert.opset_import[0].version == 17 and bert.ir_version == 8

"""keras_perceptual.precision: CPU classes, the capability probe (faked here), "auto", and
the one-time warning for emulated 16-bit formats."""

from __future__ import annotations

import json
import warnings

import keras
import pytest

from keras_perceptual import FeatureExtractor, FeatureReconstructionLoss
from keras_perceptual import precision as kp
from keras_perceptual.errors import InputError

AVX2 = {"sse4_1", "avx", "avx2", "fma"}
AVX512 = AVX2 | {"avx512f", "avx512bw", "avx512_vnni"}
BF16 = AVX512 | {"avx512_bf16"}
AMX = BF16 | {"amx_tile", "amx_bf16", "avx512_fp16"}


def caps(bfloat16: bool, float16: bool = False, device: str = "cpu") -> kp.DeviceCapabilities:
    return kp.DeviceCapabilities(
        device, "Test CPU", keras.backend.backend(), bfloat16, float16,
        cpu_class="AVX512-BF16" if bfloat16 else "AVX2", reason="faked by the test",
    )  # fmt: skip


@pytest.fixture
def fake_device(monkeypatch):
    """Replaces the probe: ``fake_device(bfloat16=..., float16=..., device=...)``."""
    monkeypatch.setattr(kp, "_warned", set())

    def install(**kwargs):
        answer = caps(**kwargs)
        monkeypatch.setattr(kp, "device_capabilities", lambda: answer)
        return answer

    return install


@pytest.mark.parametrize(
    "flags,cap,expected",
    [
        (AVX2, None, "AVX2"),
        ({"sse4_1", "avx"}, None, "AVX"),
        ({"sse4_1"}, None, "SSE"),
        (AVX512, None, "AVX-512"),
        (BF16, None, "AVX512-BF16"),
        (AMX, None, "AMX"),
        (AMX, "AVX512_CORE", "AVX-512"),
        (BF16, "avx2", "AVX2"),
        (AVX2, "AVX512_CORE_AMX", "AVX2"),  # a cap never raises the class
        ({"fp", "asimd", "bf16"}, None, "ARM-BF16"),
        ({"fp", "asimd"}, None, "ARM"),
        (set(), None, "unknown"),
    ],
)
def test_cpu_class(flags, cap, expected):
    assert kp.cpu_class(flags, cap) == expected


@pytest.mark.parametrize(
    "flags,env,backend,bf16",
    [
        (AVX2, {}, "tensorflow", False),
        (AVX512, {}, "tensorflow", False),
        (BF16, {}, "tensorflow", True),
        (AMX, {}, "torch", True),
        (BF16, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, "tensorflow", False),
        (BF16, {"TF_ENABLE_ONEDNN_OPTS": "0"}, "tensorflow", False),
    ],
)
def test_cpu_capabilities_from_flags(monkeypatch, flags, env, backend, bf16):
    monkeypatch.setattr(kp, "cpu_flags", lambda: frozenset(flags))
    for key in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # As before TensorFlow is imported: the environment variable is the rule.
    monkeypatch.setattr(kp, "onednn_enabled", lambda: None)
    monkeypatch.setattr(kp, "measured_speedup", lambda dtype: pytest.fail("no probe needed"))
    found = kp._cpu_capabilities(backend)
    assert found.bfloat16 is bf16
    assert found.float16 is (backend == "torch")
    assert "avx2" in found.flags and found.describe()


def test_tensorflows_own_onednn_flag_wins_over_the_environment(monkeypatch):
    """Once TensorFlow is imported, what it chose counts (TF_ENABLE_ONEDNN_OPTS is read once)."""
    monkeypatch.setattr(kp, "cpu_flags", lambda: frozenset(BF16))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    monkeypatch.setattr(kp, "onednn_enabled", lambda: False)
    found = kp._cpu_capabilities("tensorflow")
    assert found.bfloat16 is False and "Eigen" in found.reason
    monkeypatch.setattr(kp, "onednn_enabled", lambda: True)
    assert kp._cpu_capabilities("tensorflow").bfloat16 is True


def test_backends_without_known_kernels_are_measured(monkeypatch):
    """Flags say bfloat16 units; JAX's XLA:CPU kernels are measured instead of assumed."""
    monkeypatch.setattr(kp, "cpu_flags", lambda: frozenset(BF16))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(kp, "measured_speedup", lambda dtype: 0.6)
    assert kp._cpu_capabilities("jax").bfloat16 is False
    monkeypatch.setattr(kp, "measured_speedup", lambda dtype: 1.8)
    found = kp._cpu_capabilities("jax")
    assert found.bfloat16 is True and "1.80x" in found.reason


def test_measured_speedup_is_cached_per_machine(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    kp.measured_speedup.cache_clear()
    timings = iter([2.0, 1.0])
    monkeypatch.setattr(kp, "_time_conv", lambda dtype: next(timings))
    try:
        assert kp.measured_speedup("bfloat16") == pytest.approx(2.0)
        kp.measured_speedup.cache_clear()
        # A second process reads the file: _time_conv would raise StopIteration if called.
        assert kp.measured_speedup("bfloat16") == pytest.approx(2.0)
        with open(kp.probe_cache_path()) as f:
            assert list(json.load(f).values()) == [pytest.approx(2.0)]
        with pytest.raises(InputError, match="dtype must be one of"):
            kp.measured_speedup("float64")
    finally:
        kp.measured_speedup.cache_clear()


@pytest.mark.parametrize(
    "capability,bf16,fp16,auto",
    [((9, 0), True, True, "mixed_bfloat16"), ((7, 5), False, True, "mixed_float16"),
     ((6, 1), False, False, "float32"), (None, False, False, "float32")],
)  # fmt: skip
def test_gpus_by_compute_capability(monkeypatch, capability, bf16, fp16, auto):
    found = kp._gpu_capabilities("GPU", capability, "jax")
    assert (found.bfloat16, found.float16) == (bf16, fp16)
    monkeypatch.setattr(kp, "device_capabilities", lambda: found)
    assert kp.resolve_precision("auto") == auto


def test_auto_picks_float32_without_native_bfloat16(fake_device):
    fake_device(bfloat16=False)
    assert kp.resolve_precision("auto") == "float32"
    assert kp.resolve_backbone_dtype("auto") == "float32"
    fx = FeatureExtractor("relu1_2", weights=None, compute_dtype="auto")
    assert fx.get_layer("block1_conv1").compute_dtype == "float32"
    assert fx.get_config()["compute_dtype"] == "auto"  # chosen again where it is loaded


def test_auto_picks_bfloat16_where_native(fake_device):
    fake_device(bfloat16=True)
    assert kp.resolve_precision("auto") == "mixed_bfloat16"
    with warnings.catch_warnings():
        warnings.simplefilter("error", kp.PrecisionWarning)
        loss = FeatureReconstructionLoss("relu1_2", weights=None, backbone_dtype="auto")
        FeatureExtractor("relu1_2", weights=None, compute_dtype="bfloat16")  # native: silent
    assert loss.networks.extractor.get_layer("block1_conv1").compute_dtype == "bfloat16"
    assert loss.get_config()["backbone_dtype"] == "auto"


def test_bfloat16_request_without_native_bfloat16_warns_once(fake_device):
    fake_device(bfloat16=False)
    with pytest.warns(kp.PrecisionWarning) as record:
        FeatureExtractor("relu1_2", weights=None, compute_dtype="bfloat16")
    message = str(record[0].message)
    assert "bfloat16" in message and "emulated" in message
    assert kp.EMULATED_SLOWDOWN in message and "backbone_dtype='auto'" in message
    assert record[0].filename == __file__  # points at the user's line
    with warnings.catch_warnings():
        warnings.simplefilter("error", kp.PrecisionWarning)
        FeatureExtractor("relu1_2", weights=None, compute_dtype="bfloat16")  # once only
        FeatureExtractor("relu1_2", weights=None, compute_dtype="float32")
    with pytest.warns(kp.PrecisionWarning, match="x computes in float16.*To fix it, y"):
        assert kp.warn_if_emulated("mixed_float16", "x", "y") is True
    assert kp.warn_if_emulated("float32", "x", "y") is False


def test_resolve_precision_rules(fake_device):
    fake_device(bfloat16=False)
    for value in ("float32", "mixed_bfloat16", "mixed_float16"):
        assert kp.resolve_precision(value) == value
    keras.config.set_dtype_policy("mixed_float16")
    assert kp.resolve_precision("auto", global_policy=True) == "mixed_float16"
    assert kp.resolve_precision("auto") == "float32"
    with pytest.raises(InputError, match=r"precision must be one of .*Received: precision='fp8'"):
        kp.resolve_precision("fp8")
    with pytest.raises(InputError, match="backbone_dtype must be one of"):
        kp.resolve_backbone_dtype("int8")
    assert [kp.backbone_dtype_for(p) for p in kp.PRECISIONS[1:]] == [
        "float32", "bfloat16", "mixed_float16"]  # fmt: skip
    assert kp.low_dtype("mixed_bfloat16") == "bfloat16" and kp.low_dtype(None) is None


def test_real_probe_describes_this_machine():
    found = kp.device_capabilities()
    assert found.device in ("cpu", "gpu", "tpu") and found.native("float32")
    assert found.backend == keras.backend.backend() and found.describe()


def test_cpu_class_reads_a_flags_line_and_refuses_an_unknown_isa_cap():
    """Was: a flags string was iterated letter by letter ('SSE' for "avx2 fma"), and an
    isa_cap oneDNN does not know was taken as no cap."""
    assert kp.cpu_class("sse4_1 avx avx2 fma") == "AVX2"
    assert kp.cpu_class("AVX2 AVX512F avx512_bf16", isa_cap=" avx2 ") == "AVX2"
    for cap in ("AVX3", "", 2):
        with pytest.raises(InputError, match=rf"isa_cap must be an ONEDNN_MAX_CPU_ISA value, "
                                             rf"one of SSE41, .*Received: isa_cap={cap!r}"):
            kp.cpu_class(AVX2, isa_cap=cap)


def test_dtype_policies_and_dtype_objects_are_read_by_name(fake_device):
    """Was: low_dtype(keras.DTypePolicy("mixed_float16")) was None, so warn_if_emulated and
    DeviceCapabilities.native called with a model's dtype_policy said float32 silently."""
    import numpy as np

    answer = fake_device(bfloat16=False)
    policy = keras.DTypePolicy("mixed_bfloat16")
    assert kp.low_dtype(policy) == "bfloat16" and kp.low_dtype(np.dtype("float16")) == "float16"
    assert kp.low_dtype(keras.DTypePolicy("float32")) is None and kp.low_dtype(3) is None
    assert not answer.native(policy)
    with pytest.warns(kp.PrecisionWarning, match="computes in bfloat16"):
        assert kp.warn_if_emulated(policy, "the net", "use float32") is True

import numpy as np
import torch

from core.imaging.decode import load_image
from core.imaging.preprocess import to_model_input
from core.model_service import ModelService
from core.models.classifier import build_resnet34
from core.models.weights import load_state_dict, sha256_file
from core.training.train_classifier import predict_logits
from core.vocabulary import PLACEHOLDER_VERSION


def test_placeholder_is_flagged_untrained(use_placeholder):
    service = ModelService()
    assert not service.info.trained and service.version == PLACEHOLDER_VERSION


def test_trained_weights_load_with_hash_version_and_calibration(use_trained_weights):
    service = ModelService()
    assert service.info.trained
    assert service.version == sha256_file(use_trained_weights / "classifier.safetensors")[:12]
    assert service.info.temperature == 1.5


def test_fp16_storage_keeps_probabilities_within_1e3(use_trained_weights, xray_bytes):
    from tests.conftest import randomise

    reference = randomise(build_resnet34(), seed=1).eval()  # the fp32 model the fixture stored as fp16
    loaded = build_resnet34().eval()
    loaded.load_state_dict(load_state_dict(use_trained_weights / "classifier.safetensors"))
    x = to_model_input(load_image(xray_bytes).pixels)
    with torch.no_grad():
        p_ref = torch.softmax(reference(x), 1)
        p_fp16 = torch.softmax(loaded(x), 1)
    assert (p_ref - p_fp16).abs().max() < 1e-3


def test_inference_and_training_evaluation_preprocess_identically(use_trained_weights, kermany_test_dir):
    service = ModelService()
    files = sorted((kermany_test_dir / "NORMAL").glob("*.jpeg"))[:3]
    grays = [load_image(f.read_bytes()).pixels for f in files]
    batch = service.predict_grays(grays)
    single = np.array([service.forward(to_model_input(g)).probability[0] for g in grays])
    training_path = torch.softmax(torch.from_numpy(predict_logits(service.model, np.stack(grays))) / 1.5, 1)[
        :, 1
    ].numpy()
    assert np.allclose(batch, single, atol=1e-5)
    assert np.allclose(batch, training_path, atol=1e-5)

"""CLIP loading: tiny models through the real loader path, and every way it must refuse."""
import json
import os

import pytest
import torch

from dream_clipdraw.clip_model import (
    DEFAULT_MODEL, cache_locations, count_tokens, default_pretrained, load_clip,
    resolve_device, resolve_weights)
from dream_clipdraw.errors import (
    ClipModelUnknown, ClipWeightsCorrupt, ClipWeightsMissing, InvalidOptions)
from dream_clipdraw.tiny_clip import shared_tiny_clip, tiny_config, write_tiny_clip


pytestmark = pytest.mark.usefixtures('one_torch_thread')   # conftest.py


@pytest.fixture(scope='module')
def files():
    return shared_tiny_clip()


@pytest.fixture
def no_caches(tmp_path, monkeypatch):
    """Point every cache (OpenAI's and Hugging Face's) at empty folders."""
    import huggingface_hub.constants as hf

    import dream_clipdraw.clip_model as cm
    monkeypatch.setattr(cm, 'OPENAI_CACHE', tmp_path / 'clip-cache')
    monkeypatch.setattr(hf, 'HF_HUB_CACHE', str(tmp_path / 'hf-cache'))
    monkeypatch.delenv('CLIP_WEIGHTS', raising=False)
    return tmp_path


def test_tiny_model_loads_through_the_file_path_like_real_weights(files):
    clip = load_clip(**files.load_kwargs())
    assert clip.name == files.model_name
    assert clip.weights_file == files.weights
    assert not clip.random_weights
    assert clip.image_size == 64 and clip.context_length == 77
    assert not any(p.requires_grad for p in clip.model.parameters())
    saved = torch.load(files.weights, weights_only=True)
    loaded = clip.model.state_dict()
    assert all(torch.equal(saved[k], loaded[k].cpu()) for k in saved)


def test_text_and_image_embeddings_are_unit_norm_and_differentiable(files):
    clip = load_clip(**files.load_kwargs())
    text = clip.encode_text(['a red whale', 'a city at night'])
    assert text.shape == (2, 64)
    assert torch.allclose(text.norm(dim=1), torch.ones(2), atol=1e-5)
    assert not torch.allclose(text[0], text[1])
    images = torch.rand(2, 3, 96, 96, requires_grad=True)   # resized to 64 inside
    features = clip.encode_image(images)
    assert torch.allclose(features.norm(dim=1), torch.ones(2), atol=1e-5)
    features.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_input_normalisation_uses_the_models_mean_and_std(files):
    clip = load_clip(**files.load_kwargs())
    grey = torch.full((1, 3, 64, 64), 0.5)
    on = clip.encode_image(grey)
    off = clip.encode_image(grey, normalize_input=False)
    assert not torch.allclose(on, off)
    mean = torch.tensor(clip.mean).view(1, 3, 1, 1)
    std = torch.tensor(clip.std).view(1, 3, 1, 1)
    by_hand = clip.model.encode_image((grey - mean) / std, normalize=True)
    assert torch.allclose(on, by_hand, atol=1e-6)


def test_token_count_matches_the_tokenizer(files):
    clip = load_clip(**files.load_kwargs())
    text = 'a red whale flying over a city at night'
    tokens = clip.tokenizer([text])[0]
    assert clip.count_tokens(text) == int((tokens != 0).sum())
    assert count_tokens(clip.tokenizer, 'whale ' * 100) > 77


def test_weights_folder_is_searched_for_a_checkpoint(files, tmp_path):
    folder = tmp_path / 'weights'
    written = write_tiny_clip(folder)
    os.rename(written.weights, folder / 'open_clip_pytorch_model.bin')
    clip = load_clip(config_file=written.config, pretrained=str(folder))
    assert clip.weights_file.endswith('open_clip_pytorch_model.bin')


def test_missing_default_weights_say_exactly_how_to_provide_them(no_caches):
    with pytest.raises(ClipWeightsMissing) as error:
        load_clip()
    text = str(error.value)
    assert '--clip-pretrained' in text and 'CLIP_WEIGHTS' in text
    assert 'make demo CLIP_WEIGHTS=' in text
    assert str(no_caches / 'clip-cache' / 'ViT-B-32.pt') in text


def test_default_tag_is_found_in_the_openai_cache_offline(no_caches, monkeypatch):
    import open_clip
    cache = no_caches / 'clip-cache'
    cache.mkdir()
    cfg = open_clip.get_pretrained_cfg(DEFAULT_MODEL, 'openai')
    cached = cache / os.path.basename(cfg['url'])
    cached.write_bytes(b'placeholder')
    path, tag_cfg = resolve_weights(DEFAULT_MODEL, 'openai')
    assert path == str(cached) and tag_cfg['quick_gelu'] is True
    assert cached in cache_locations(cfg)


def test_default_tag_is_found_in_the_hugging_face_cache_layout(no_caches):
    repo = no_caches / 'hf-cache' / 'models--timm--vit_base_patch32_clip_224.openai'
    snapshot = repo / 'snapshots' / 'abc123'
    snapshot.mkdir(parents=True)
    (repo / 'refs').mkdir()
    (repo / 'refs' / 'main').write_text('abc123')
    (snapshot / 'open_clip_model.safetensors').write_bytes(b'placeholder')
    path, _ = resolve_weights('ViT-B-32', 'openai')
    assert path == str(snapshot / 'open_clip_model.safetensors')


def test_clip_weights_env_var_is_the_default(files, monkeypatch):
    monkeypatch.setenv('CLIP_WEIGHTS', files.weights)
    assert default_pretrained() == files.weights
    clip = load_clip(config_file=files.config)
    assert clip.weights_file == files.weights


def test_missing_weights_file_is_a_clear_error(no_caches):
    with pytest.raises(ClipWeightsMissing, match='not found: /nowhere/ViT-B-32.pt'):
        load_clip(pretrained='/nowhere/ViT-B-32.pt')


def test_unknown_tag_lists_the_known_ones(no_caches):
    with pytest.raises(ClipWeightsMissing, match='known tags for ViT-B-32-quickgelu: openai'):
        load_clip(pretrained='no_such_tag')


def test_corrupt_and_truncated_files_are_clear_errors(files, tmp_path):
    garbage = tmp_path / 'garbage.pt'
    garbage.write_bytes(b'\x00not a checkpoint' * 50)
    with pytest.raises(ClipWeightsCorrupt, match='truncated, corrupt'):
        load_clip(config_file=files.config, pretrained=str(garbage))
    data = open(files.weights, 'rb').read()
    truncated = tmp_path / 'truncated.pt'
    truncated.write_bytes(data[:len(data) // 3])
    with pytest.raises(ClipWeightsCorrupt, match='truncated, corrupt'):
        load_clip(config_file=files.config, pretrained=str(truncated))


def test_weights_of_another_architecture_are_named_as_such(files, tmp_path):
    other = tmp_path / 'other'
    other.mkdir()
    config = tiny_config()
    config['vision_cfg']['width'] = 128
    (other / 'wider-tiny.json').write_text(json.dumps(config))
    with pytest.raises(ClipWeightsCorrupt, match='another architecture'):
        load_clip(config_file=str(other / 'wider-tiny.json'), pretrained=files.weights)


def test_unknown_model_name_says_how_to_list_valid_names():
    with pytest.raises(ClipModelUnknown, match='list_models') as error:
        load_clip('ViT-B-33', pretrained='/x.pt')
    assert 'ViT-B-32' in str(error.value)   # a close match is suggested


def test_bad_config_files_are_clear_errors(tmp_path, files):
    broken = tmp_path / 'broken.json'
    broken.write_text('{not json')
    with pytest.raises(ClipModelUnknown, match='not readable JSON'):
        load_clip(config_file=str(broken), pretrained=files.weights)
    partial = tmp_path / 'partial.json'
    partial.write_text('{"embed_dim": 64}')
    with pytest.raises(ClipModelUnknown, match='lacks vision_cfg, text_cfg'):
        load_clip(config_file=str(partial), pretrained=files.weights)
    with pytest.raises(ClipModelUnknown, match='does not match'):
        load_clip('ViT-B-32', config_file=files.config, pretrained=files.weights)
    with pytest.raises(ClipModelUnknown, match='not found'):
        load_clip(config_file=str(tmp_path / 'absent.json'), pretrained=files.weights)


def test_random_weights_only_when_asked_and_flagged(files):
    clip = load_clip(config_file=files.config, random_weights=True)
    assert clip.random_weights and clip.weights_file == '' and clip.pretrained == ''
    assert 'random weights' in clip.describe()


def test_openai_torchscript_archives_load_with_quick_gelu(files, tmp_path):
    """OpenAI's .pt files are TorchScript archives; open_clip's torch.load path refuses them."""
    state = torch.load(files.weights, weights_only=True)

    class Holder(torch.nn.Module):
        def forward(self, x):
            return x

    root = Holder()
    for key, value in state.items():
        *parents, leaf = key.split('.')
        module = root
        for name in parents:
            if not hasattr(module, name):
                module.add_module(name, Holder())
            module = getattr(module, name)
        module.register_buffer(leaf, value)
    archive = tmp_path / 'openai-format.pt'
    torch.jit.script(root).save(str(archive))
    plain = json.loads(open(files.config).read())
    plain.pop('quick_gelu')
    config = tmp_path / 'tiny-plain-gelu.json'
    config.write_text(json.dumps(plain))
    clip = load_clip(config_file=str(config), pretrained=str(archive))
    reference = load_clip(**files.load_kwargs())
    images = torch.rand(1, 3, 64, 64)
    assert torch.allclose(clip.encode_image(images), reference.encode_image(images), atol=1e-5)


def test_cuda_without_a_gpu_is_an_option_error():
    if torch.cuda.is_available():
        pytest.skip('a GPU is present')
    with pytest.raises(InvalidOptions, match='no CUDA'):
        resolve_device('cuda')
    with pytest.raises(InvalidOptions):
        resolve_device('tpu')


def test_fast_paths_compute_what_open_clip_computes(files):
    """The layout fixes must not change CLIP: compare with open_clip's own untouched model."""
    from dream_clipdraw.clip_fastpaths import PatchEmbedding
    import open_clip
    clip = load_clip(**files.load_kwargs())
    reference = open_clip.create_model(files.model_name, pretrained=files.weights).eval()
    assert not any(m.batch_first for m in clip.model.modules()
                   if isinstance(m, torch.nn.MultiheadAttention))
    assert isinstance(clip.model.visual.conv1, PatchEmbedding)
    assert set(clip.model.state_dict()) == set(reference.state_dict())
    images = torch.rand(2, 3, 64, 64)
    ours = images.clone().requires_grad_(True)
    theirs = images.clone().requires_grad_(True)
    a = clip.model.encode_image(ours, normalize=True)
    b = reference.encode_image(theirs, normalize=True)
    assert torch.allclose(a, b, atol=1e-5)
    (a[:, 0].sum()).backward()
    (b[:, 0].sum()).backward()
    assert torch.allclose(ours.grad, theirs.grad, atol=1e-6)
    tokens = clip.tokenizer(['a red whale', 'a city'])
    assert torch.allclose(clip.model.encode_text(tokens), reference.encode_text(tokens),
                          atol=1e-5)


def test_a_compiled_image_tower_computes_what_the_eager_one_computes(files):
    """torch.compile through our fast paths' hooks (AOT autograd, eager kernels: what
    compiling traces, without minutes of code generation in a test)."""
    eager = load_clip(**files.load_kwargs())
    compiled = load_clip(**files.load_kwargs())
    assert compiled.compile_image_encoder(backend='aot_eager') == 'aot_eager:default'
    assert compiled.compile_image_encoder(backend='aot_eager') == 'aot_eager:default'  # once
    images = torch.rand(3, 3, 64, 64)
    ours = images.clone().requires_grad_(True)
    theirs = images.clone().requires_grad_(True)
    a = compiled.encode_image(ours)
    b = eager.encode_image(theirs)
    assert torch.allclose(a, b, atol=1e-5)
    (a @ a[0]).sum().backward()
    (b @ b[0]).sum().backward()
    assert torch.allclose(ours.grad, theirs.grad, atol=1e-6)
    assert ours.grad.abs().sum() > 0


def test_accelerate_on_the_cpu_stays_eager_float32_and_rejects_what_cannot_run(files):
    clip = load_clip(**files.load_kwargs())
    assert clip.accelerate() == ('float32', None)
    assert clip.compiled is None
    with pytest.raises(InvalidOptions, match='bfloat16 CLIP needs a CUDA device'):
        clip.accelerate('bfloat16')
    with pytest.raises(InvalidOptions, match='precision must be one of float32, bfloat16'):
        clip.accelerate('half')
    with pytest.raises(InvalidOptions, match='compile mode must be one of auto, off'):
        clip.accelerate(compile='fast')


def test_accelerate_compiles_in_the_mode_asked(files, monkeypatch):
    from dream_clipdraw.clip_model import ClipModel
    asked = []
    monkeypatch.setattr(ClipModel, 'compile_image_encoder',
                        lambda self, mode=None: asked.append(mode) or f'inductor:{mode}')
    clip = load_clip(**files.load_kwargs())
    assert clip.accelerate(compile='reduce-overhead') == ('float32',
                                                          'inductor:reduce-overhead')
    assert clip.accelerate(compile='default')[1] == 'inductor:None' and asked[-1] is None


def test_a_compiler_that_fails_falls_back_to_the_eager_tower(files, caplog):
    def broken_backend(graph, example_inputs):
        raise RuntimeError('no C compiler here')
    eager = load_clip(**files.load_kwargs())
    clip = load_clip(**files.load_kwargs())
    clip.compile_image_encoder(backend=broken_backend)
    images = torch.rand(2, 3, 64, 64)
    with caplog.at_level('WARNING'):
        features = clip.encode_image(images)
    assert torch.allclose(features, eager.encode_image(images), atol=1e-6)
    assert 'running it eagerly' in caplog.text and 'no C compiler here' in caplog.text
    assert "['" not in caplog.text
    assert clip.compiled is None            # and it stays eager
    assert torch.allclose(clip.encode_image(images), features)


def test_warm_up_compiles_the_forward_backward_and_the_score_shapes(files):
    clip = load_clip(**files.load_kwargs())
    clip.warm_up(3)                            # not compiled: nothing to do
    clip.compile_image_encoder(backend='aot_eager')
    import torch._dynamo
    torch._dynamo.reset()
    counts = torch._dynamo.utils.counters
    counts.clear()
    clip.warm_up(3)
    compiled = counts['stats']['unique_graphs']
    assert compiled >= 1
    images = torch.rand(3, 3, 64, 64, requires_grad=True)
    clip.encode_image(images).sum().backward()
    with torch.no_grad():
        clip.encode_image(torch.rand(1, 3, 64, 64))
    assert counts['stats']['unique_graphs'] == compiled     # nothing left to compile
    assert images.grad.abs().sum() > 0


@pytest.mark.parametrize('size', [(64, 64), (70, 53)])
def test_patch_embedding_equals_the_strided_convolution(size):
    from dream_clipdraw.clip_fastpaths import PatchEmbedding
    conv = torch.nn.Conv2d(3, 8, kernel_size=16, stride=16, bias=False)
    images = torch.rand(2, 3, *size)
    assert torch.allclose(PatchEmbedding(conv)(images), conv(images), atol=1e-5)

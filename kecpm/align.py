"""PROMU-style alignment pre-training: the objectives (``kecpm pretrain-align``; the loop is in
``kecpm/pretrain_align.py``).

PROMU pre-trains its prompt model on unlabelled image-text pairs with self-supervised objectives
whose targets are soft pseudo-labels: similarity distributions from a frozen teacher, not hard
labels. Ours, per post (``Aligner.losses``), summed with weights:

1. **entity-to-region** (``entity_weight``): the candidate mention spans of the text (spans of up to
   ``max_span_words`` words whose words look like names: Capitalised, ALLCAPS, miXed, @mention,
   #hashtag by ``kecpm.model.shapes``, "RT" excepted; all such spans when no word does) against the
   post's regions. Student: softmax over regions of cos(projected span representation of
   ``SpanFeatures``, projected region) / ``temperature``. Pseudo-label: softmax over regions of the
   frozen teacher's cos(mean of the span's word states, region state) / ``teacher_temperature``.
   Loss: KL(teacher || student), mean over spans, then over posts.
2. **relation-prompt-to-image** (``relation_weight``): relation prompts are the relation label words
   (``kecpm.data.labels.relation_words``, the words the relation head's verbalizer starts from).
   Pseudo-label: softmax over prompts of the teacher's cos(image stand-in, prompt embedding).
   Student: softmax of cos(projected mean word state of the text, prompt embedding by the model's
   own ``embed_texts`` at the start). Loss: KL(teacher || student).
3. **text-to-image InfoNCE** (``nce_weight``, ``kecpm.model.contrastive.info_nce``): projected mean
   word state vs projected image stand-in, the batch's other posts as negatives.

Regions: with a readable image, the model's visual prefix vectors (EfficientNet features projected,
trainable); otherwise the caption's subword states from the frozen side encoder. The image stand-in
is the mean region. The teacher is the frozen side encoder (the pretrained encoder, never trained),
reading the text, the caption, the prompts and, for images, the initial visual prefix (a frozen copy
taken at the start) as input embeddings. Word states are the model's (soft prompt and visual prefix
in front); the caption fusion is frozen with its gate at 0, so the text cannot copy the caption. The
projections start as identities (the span one takes the mean-of-words block of ``SpanFeatures``), so
the student first compares states as the teacher does; they are not saved with the model.

Where ours differs from PROMU: regions are caption phrases (OFA captions) when there is no image file,
and the visual prefix vectors when there is, not detected objects; prompts are label words, not
learned relation prompts; the teacher is the frozen pretrained text encoder, not a vision-language
model, so on image posts its pseudo-labels are only as good as the initial visual prefix.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from kecpm.align_config import AlignConfig
from kecpm.config import ConfigError
from kecpm.data.labels import relation_words
from kecpm.data.schema import Post
from kecpm.model.contrastive import info_nce
from kecpm.model.heads.base import enumerate_spans
from kecpm.model.shapes import name_like

if TYPE_CHECKING:
    from kecpm.model.model import PromptModel

def candidate_spans(tokens: list[str], max_words: int) -> list[tuple[int, int]]:
    """Spans [start, end) of up to ``max_words`` name-like words; every such span when none is."""
    name = name_like(tokens)
    spans = enumerate_spans(len(tokens), max_words)
    return [(i, j) for i, j in spans if all(name[i:j])] or spans


def soft_labels(query: torch.Tensor, keys: torch.Tensor, temperature: float) -> torch.Tensor:
    """(Q, K) softmax over keys of cos(query, key) / temperature: each row sums to 1."""
    return (F.normalize(query, dim=-1) @ F.normalize(keys, dim=-1).t() / temperature).softmax(-1)


def kl(teacher: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL(teacher || softmax(logits)) of each row, averaged over rows."""
    return F.kl_div(logits.log_softmax(-1), teacher, reduction="batchmean")


@torch.no_grad()
def embed(encoder: nn.Module, tokenizer, texts: list[str]) -> torch.Tensor:  # noqa: ANN001 - an HF tokenizer
    """Mean-pooled states of ``encoder`` (kept as it is: the frozen side encoder is in eval mode)."""
    enc = tokenizer(texts, padding=True, return_tensors="pt").to(next(encoder.parameters()).device)
    out = encoder(**enc).last_hidden_state
    m = enc["attention_mask"].unsqueeze(-1).to(out.dtype)
    return (out * m).sum(1) / m.sum(1)


@dataclass
class Targets:
    """A post's soft pseudo-labels: candidate spans (S, 2), entity -> region (S, R), relation prompt (P,)."""

    spans: torch.Tensor
    entity: torch.Tensor
    relation: torch.Tensor


class Aligner(nn.Module):
    """The projections of the three objectives around ``model`` (not a submodule: only the projections
    are this module's parameters), the frozen teacher's pieces and its cached pseudo-labels."""

    def __init__(self, model: PromptModel, cfg: AlignConfig) -> None:
        super().__init__()
        enc = model.encoder
        if enc.side is None or enc.visual is None or enc.fusion is None:
            raise ConfigError("pretrain-align needs model.use_image (the caption and the image are its "
                              "regions)")
        self.__dict__["model"] = model
        self.cfg = cfg
        h = enc.hidden
        self.span_proj, self.region_proj = nn.Linear(model.spans.dim, h), nn.Linear(h, h)
        self.text_proj, self.nce_text, self.nce_image = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        with torch.no_grad():  # identities: at the start the student compares the states as the teacher does
            for lin in (self.span_proj, self.region_proj, self.text_proj, self.nce_text, self.nce_image):
                lin.weight.zero_()
                lin.bias.zero_()
                lin.weight[:, -h:] = torch.eye(h) if lin is not self.span_proj else 0
            self.span_proj.weight[:, 2 * h: 3 * h] = torch.eye(h)  # SpanFeatures: [first; last; mean; width]
        self.to(model.device)
        enc.fusion.requires_grad_(False)  # gate stays 0: the text never reads the caption it is aligned to
        self.__dict__["teacher_visual"] = copy.deepcopy(enc.visual).requires_grad_(False).eval()
        words = [relation_words(r) for r in model.labels.relations]
        self.prompts = enc.embed_texts(words)  # the student's prompt vectors, fixed
        self.teacher_prompts = embed(enc.side, enc.tokenizer, words)
        self._targets: dict[str, Targets] = {}
        self._readable: dict[str, bool] = {}

    def has_image(self, post: Post) -> bool:
        """Whether the post's image file is readable (an unreadable one is warned about once)."""
        if post.id not in self._readable:
            self._readable[post.id] = bool(post.image_path) and \
                self.model.encoder.visual.image(post.image_path, post.id) is not None
        return self._readable[post.id]

    def usable(self, post: Post) -> str | None:
        """"image", "caption", or None (neither: the post is skipped)."""
        return "image" if self.has_image(post) else "caption" if (post.caption or "").strip() else None

    @torch.no_grad()
    def _teacher_image(self, post: Post) -> torch.Tensor:
        """The teacher's states of the initial visual prefix vectors read as ``[CLS] v1..vn [SEP]``."""
        side, tok = self.model.encoder.side, self.model.encoder.tokenizer
        vectors = self.teacher_visual([post.image_path], [post.id])[0]
        ids = torch.tensor([tok.cls_token_id, tok.sep_token_id], device=vectors.device)
        ends = side.get_input_embeddings()(ids)
        x = torch.cat([ends[:1], vectors, ends[1:]]).unsqueeze(0)
        return side(inputs_embeds=x).last_hidden_state[0, 1:-1]

    @torch.no_grad()
    def _teacher_words(self, batch) -> torch.Tensor:  # noqa: ANN001 - a layout Batch
        """(B, N, H) the teacher's word states (mean of subwords) of the text alone."""
        batch = batch.to(self.model.device)
        side = self.model.encoder.side
        states = side(input_ids=batch.text_ids, attention_mask=batch.text_mask).last_hidden_state
        n = max(max(batch.n_words), 1)
        words = torch.arange(n, device=states.device).view(1, n, 1)
        onehot = (batch.word_index.unsqueeze(1) == words).to(states.dtype)
        return onehot @ states / onehot.sum(-1, keepdim=True).clamp(min=1)

    def regions(self, post: Post, side: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The post's (student input, teacher) region vectors, (R, H) each: visual prefix or caption."""
        if self.has_image(post):
            return self.model.encoder.visual([post.image_path], [post.id])[0], self._teacher_image(post)
        caption = side[1: int(mask.sum()) - 1].detach()  # [CLS] caption [SEP]: the caption's subwords
        return caption, caption

    @torch.no_grad()
    def targets(self, post: Post, teacher_words: torch.Tensor, regions: torch.Tensor) -> Targets:
        """The soft pseudo-labels of ``post`` (cached by post id: the teacher never changes)."""
        if post.id not in self._targets:
            n = len(teacher_words)
            spans = candidate_spans(post.tokens[:n], self.cfg.max_span_words)
            spans = torch.tensor(spans, device=regions.device)
            csum = torch.cat([teacher_words.new_zeros(1, teacher_words.size(1)), teacher_words.cumsum(0)])
            reps = (csum[spans[:, 1]] - csum[spans[:, 0]]) / (spans[:, 1] - spans[:, 0]).unsqueeze(1)
            t = self.cfg.teacher_temperature
            image = regions.mean(0, keepdim=True)  # the image stand-in
            self._targets[post.id] = Targets(spans, soft_labels(reps, regions, t),
                                             soft_labels(image, self.teacher_prompts, t)[0])
        return self._targets[post.id]

    def sharpness(self) -> dict[str, float | None]:
        """Mean entropy of the cached pseudo-labels over that of a uniform one (1 = flat, 0 = one-hot)."""
        def norm_entropy(p: torch.Tensor) -> torch.Tensor:
            return -(p * p.clamp_min(1e-12).log()).sum(-1) / max(math.log(p.size(-1)), 1e-12)

        tg = list(self._targets.values())
        ent = [norm_entropy(t.entity).mean() for t in tg if t.entity.size(-1) > 1]
        rel = [norm_entropy(t.relation) for t in tg]
        return {"entity_entropy": float(torch.stack(ent).mean()) if ent else None,
                "relation_entropy": float(torch.stack(rel).mean()) if rel else None}

    def losses(self, posts: list[Post]) -> dict[str, torch.Tensor]:
        """The three objectives on a batch of usable posts, and their weighted sum ("total")."""
        model, cfg, t = self.model, self.cfg, self.cfg.temperature
        batch = model.encoder.batch(posts)
        enc = model.encoder(batch)
        teacher = self._teacher_words(batch)
        ent, rel_t, pooled, images = [], [], [], []
        for b, post in enumerate(posts):
            n = enc.n_words[b]
            if n == 0:  # a first word longer than the text budget: nothing to align
                continue
            words = enc.words[b, :n]
            student_regions, teacher_regions = self.regions(post, enc.side[b], batch.side_mask[b])
            tg = self.targets(post, teacher[b, :n], teacher_regions)
            spans = F.normalize(self.span_proj(model.spans(words, tg.spans)), dim=-1)
            regions = F.normalize(self.region_proj(student_regions), dim=-1)
            ent.append(kl(tg.entity, spans @ regions.t() / t))
            rel_t.append(tg.relation)
            pooled.append(words.mean(0))
            images.append(student_regions.mean(0))
        if not pooled:
            zero = enc.words.sum() * 0.0
            return {"entity": zero, "relation": zero, "nce": zero, "total": zero}
        text = torch.stack(pooled)
        student = F.normalize(self.text_proj(text), dim=-1) @ F.normalize(self.prompts, dim=-1).t() / t
        out = {"entity": torch.stack(ent).mean(), "relation": kl(torch.stack(rel_t), student),
               "nce": info_nce(self.nce_text(text), self.nce_image(torch.stack(images)), t)}
        out["total"] = (cfg.entity_weight * out["entity"] + cfg.relation_weight * out["relation"]
                        + cfg.nce_weight * out["nce"])
        return out

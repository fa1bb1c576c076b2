"""The post encoder: one representation per post, shared by every head.

Text sequence ``[soft prompt][visual prefix] [CLS] text [SEP]`` through the trainable encoder; side
sequence ``[CLS] caption [SEP] knowledge [SEP]`` through a frozen copy of the pretrained encoder
(a real submodule, so ``.to(device)`` moves it, but never trained and kept in eval mode; its states
are cached per distinct sequence), read by the text tokens through ``GatedCrossAttention``.
Output per post: one vector per word (mean of its subwords) and the side states with the side
tokens the model may see (after knowledge dropout). See ``layout.py`` for the truncation budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from kecpm.config import ConfigError
from kecpm.data.schema import Post
from kecpm.model.config import ModelConfig
from kecpm.model.experts import Experts
from kecpm.model.fusion import GatedCrossAttention, knowledge_drop, visible_keys
from kecpm.model.layout import Batch, InputLayout, pad_rows
from kecpm.model.mmib import MMIB, image_mask
from kecpm.model.shapes import SHAPES
from kecpm.model.soft_prompt import SoftPrompt
from kecpm.model.visual import VisualPrefix

SIDE_BATCH = 64  # side sequences encoded together at prediction time


@dataclass
class Encoded:
    """A batch's encoding: word states (B, N, H), words kept per post, side states (B, Ls, H) and the
    visible side tokens (B, Ls) bool (None without a side sequence)."""

    words: torch.Tensor
    n_words: list[int]
    side: torch.Tensor | None = None
    keys: torch.Tensor | None = None
    know_visible: list[bool] | None = None  # per post: knowledge not dropped (training) and present
    aux: dict[str, torch.Tensor] = field(default_factory=dict)  # weighted MMIB terms for the loss

    def post(self, b: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Post ``b``'s word states (n, H), side states (Ls, H) and visible side tokens (Ls,)."""
        if self.side is None or self.keys is None:
            return self.words[b, : self.n_words[b]], None, None
        return self.words[b, : self.n_words[b]], self.side[b], self.keys[b]


class PostEncoder(nn.Module):
    """Encoder + soft prompt + visual prefix + gated side reader. ``text_path``/``side_path`` override
    ``config.encoder`` (a saved model's own folders)."""

    def __init__(self, config: ModelConfig, text_path: str | None = None, side_path: str | None = None) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        self.config = config
        path = text_path or config.encoder_path
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.text = AutoModel.from_pretrained(path)
        self.hidden = self.text.config.hidden_size
        n_types = getattr(self.text.config, "type_vocab_size", 0)
        if config.inline_knowledge_segment and n_types < 2:
            raise ConfigError(f"inline_knowledge_segment needs an encoder with two token types; {path} has {n_types}")
        if config.freeze_encoder:
            self.text.requires_grad_(False)
        self.layout = InputLayout(self.tokenizer, config.max_text_tokens, config.max_caption_tokens,
                                  config.max_knowledge_tokens, use_caption=config.use_image,
                                  use_knowledge=config.use_knowledge, filter_knowledge=config.filter_knowledge,
                                  knowledge_in_side=config.knowledge_in_side, index_sentences=config.reads_sentences,
                                  inline_knowledge_tokens=config.inline_knowledge_tokens,
                                  inline_shapes=config.inline_knowledge_shapes)
        # zeros, no RNG draw: with word_shapes off nothing else in the model changes
        self.shapes = nn.Parameter(torch.zeros(len(SHAPES), self.hidden)) if config.word_shapes else None
        self.soft = SoftPrompt(config.soft_prompt_tokens, self.hidden) if config.soft_prompt_tokens else None
        self.visual = VisualPrefix(config.visual_tokens, self.hidden, config.image_model) if config.use_image else None
        more = bool(config.retrieval)  # MoRe's experts replace the fusion (kecpm.model.experts)
        has_side = self.layout.has_side or more
        reads_side = has_side or config.knowledge_definitions  # definitions: sentence embeddings by the side encoder
        self.fusion = GatedCrossAttention(self.hidden, per_dimension=config.gate_per_dimension) \
            if has_side and not more else None
        self.side = AutoModel.from_pretrained(side_path or path).eval().requires_grad_(False) if reads_side else None
        self.experts = Experts(config, self.hidden, self.layout) if more else None
        # MMIB's regularisers (kecpm.model.mmib), only when one is on: else the base model exactly
        on = config.ib_weight > 0 or config.align_weight > 0
        self.mmib = MMIB(config, self.hidden, has_side, config.use_image, self.tokenizer) if on else None
        self._side_cache: dict[tuple[bool | int, ...], torch.Tensor] = {}  # (training, *ids)
        self._sentence_cache: dict[str, torch.Tensor] = {}  # sentence -> its embedding (sentence_embeddings)

    @property
    def device(self) -> torch.device:
        return next(self.text.parameters()).device

    def train(self, mode: bool = True) -> PostEncoder:
        super().train(mode)
        if self.side is not None:
            self.side.eval()  # frozen: no dropout, so its cached states stay valid
        return self

    def _apply(self, fn, *args, **kwargs):  # noqa: ANN001, ANN202 - nn.Module's hook for .to()/.double()
        self.clear_side_cache()  # cached states live on the old device/dtype
        return super()._apply(fn, *args, **kwargs)

    def clear_side_cache(self) -> None:
        """Forget the cached side states (they are recomputed on demand)."""
        self._side_cache.clear()
        self._sentence_cache.clear()

    def pretrained(self) -> dict[str, nn.Module]:
        """The Hugging Face models inside, saved with ``save_pretrained`` (not in the heads' file)."""
        return {name: m for name, m in (("encoder", self.text), ("side_encoder", self.side)) if m is not None}

    def batch(self, posts: list[Post]) -> Batch:
        batch = self.layout(posts, use_image=self.visual is not None)
        return batch if self.experts is None else self.experts.add_sides(batch, posts)

    def forward(self, batch: Batch) -> Encoded:
        batch = batch.to(self.device)
        mmib, aux = self.mmib, {}
        emb = self.text.get_input_embeddings()(batch.text_ids)
        if self.shapes is not None:
            emb = emb + self.shapes[batch.shape_ids]
        mask = batch.text_mask
        # knowledge in the text sequence: its dropout draw comes first and holds for every reader of the knowledge
        inline = batch.text_know is not None
        drop = knowledge_drop(self.config.inline_dropout, len(emb), self.training) if inline else None
        if drop is not None:
            mask = mask * (1 - batch.text_know * drop.to(mask.device).long().unsqueeze(1))
        prefix = []
        if self.soft is not None:
            prefix.append(self.soft(len(emb)))
        if self.visual is not None:
            paths = batch.image_paths or [None] * len(emb)
            vis = self.visual(paths, batch.post_ids)
            if mmib is not None:
                has_image = image_mask(self.visual, paths, batch.post_ids).to(vis.device)
                vis = mmib.bottleneck("image", vis, has_image.unsqueeze(1).expand(vis.shape[:2]), aux)
            prefix.append(vis)
        n_pre = sum(p.size(1) for p in prefix)
        # inline_knowledge_segment: the knowledge is segment B (token type 1), everything else segment A
        types = batch.text_know.to(mask.device) if inline and self.config.inline_knowledge_segment else None
        if prefix:
            emb = torch.cat([*prefix, emb], dim=1)
            mask = torch.cat([mask.new_ones(len(mask), n_pre), mask], dim=1)
            types = None if types is None else torch.cat([types.new_zeros(len(types), n_pre), types], dim=1)
        extra = {} if types is None else {"token_type_ids": types}
        states = self.text(inputs_embeds=emb, attention_mask=mask, **extra).last_hidden_state[:, n_pre:]
        text_states = states  # the encoder's own reading of the text, before fusion
        side = keys = visible = None
        if self.experts is not None:
            states, side, keys, visible = self.experts(states, batch, self.side_states)
        else:
            fuse = self.fusion is not None and batch.side_ids is not None
            # one knowledge-dropout draw per batch, where it always was (nothing between draws random numbers)
            if not inline:
                drop = knowledge_drop(self.config.knowledge_dropout, len(states), self.training) \
                    if fuse or batch.has_knowledge is not None else None
            if fuse:
                side = self.side_states(batch.side_ids, batch.side_mask)
                keys = visible_keys(batch.side_mask, batch.know_mask, drop)
                if mmib is not None:
                    side = mmib.bottleneck("side", side, keys, aux)
                states = self.fusion(states, side, keys)
            if batch.has_knowledge is not None:  # knowledge outside the side sequence: seen unless dropped
                visible = [k and (drop is None or not bool(drop[b])) for b, k in enumerate(batch.has_knowledge)]
            elif fuse:
                visible = (keys & batch.know_mask.bool()).any(1).tolist()
        n = max(max(batch.n_words), 1)
        onehot = (batch.word_index.unsqueeze(1) == torch.arange(n, device=states.device).view(1, n, 1)).to(states.dtype)
        words = onehot @ states / onehot.sum(-1, keepdim=True).clamp(min=1)  # (B, N, H): mean of subwords
        if mmib is not None:
            kept = torch.tensor(batch.n_words, device=words.device)[:, None]
            real = torch.arange(n, device=words.device) < kept  # (B, N) the post's kept words
            words = mmib.bottleneck("text", words, real, aux)
            if self.visual is not None:
                text_words = onehot @ text_states / onehot.sum(-1, keepdim=True).clamp(min=1)
                mmib.align(text_words, real, batch, side, vis, has_image, aux)
        return Encoded(words, batch.n_words, side, keys, visible, aux)

    @torch.no_grad()
    def side_states(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, Ls, H) frozen-encoder states of the side sequences, cached per distinct sequence."""
        keys = [(self.training, *ids[b, : int(mask[b].sum())].tolist()) for b in range(len(ids))]
        # with sentence dropout nearly every training sequence is new: those are not kept (the cache would grow each step)
        cache = {} if self.training and self.config.inline_knowledge_sentence_dropout else self._side_cache
        missing = sorted(dict.fromkeys(k for k in keys if k not in cache), key=len)
        # Training: one sequence at a time, unpadded, as every measured run did. Prediction: padded batches of
        # similar lengths, 3x faster on short sequences (CPU); padding changes the last float bits, so states
        # are cached per mode and a model predicts the same whether or not it was trained in this process.
        step = 1 if self.training else SIDE_BATCH
        pad = self.tokenizer.pad_token_id or 0
        for i in range(0, len(missing), step):
            chunk = [k[1:] for k in missing[i:i + step]]
            seq = pad_rows([list(k) for k in chunk], pad).to(ids.device)
            att = pad_rows([[1] * len(k) for k in chunk], 0).to(ids.device)
            out = self.side(input_ids=seq, attention_mask=att if step > 1 else None).last_hidden_state
            for j, k in enumerate(missing[i:i + step]):
                cache[k] = out[j, : len(k) - 1]
        first = cache[keys[0]]
        states = first.new_zeros(*ids.shape, first.size(-1))
        for b, k in enumerate(keys):
            states[b, : len(k) - 1] = cache[k]
        return states

    @torch.no_grad()
    def sentence_embeddings(self, sentences: list[str]) -> torch.Tensor:
        """(k, H) unit-length mean-pooled states of the frozen side encoder for ``sentences`` (each encoded alone,
        unpadded, so a sentence's embedding does not depend on its batch; cached per sentence)."""
        for text in dict.fromkeys(s for s in sentences if s not in self._sentence_cache):
            ids = self.tokenizer(text, truncation=True, max_length=self.config.max_knowledge_tokens,
                                 return_tensors="pt")["input_ids"].to(self.device)
            self._sentence_cache[text] = F.normalize(self.side(input_ids=ids).last_hidden_state[0].mean(0), dim=-1)
        if not sentences:
            return torch.zeros(0, self.hidden, device=self.device)
        return torch.stack([self._sentence_cache[s] for s in sentences])

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """Mean-pooled outputs of the text encoder for short texts, (n, H) (label words, prompts)."""
        enc = self.tokenizer(texts, padding=True, return_tensors="pt").to(self.device)
        was = self.text.training
        self.text.eval()
        out = self.text(**enc).last_hidden_state
        self.text.train(was)
        m = enc["attention_mask"].unsqueeze(-1).to(out.dtype)
        return (out * m).sum(1) / m.sum(1)

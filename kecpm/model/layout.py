"""Input layout and truncation budget.

Logical layout per post (the spec's template)::

    [soft prompt m][visual prefix v] text [SEP] caption [SEP] knowledge

Physically the post is encoded as two sequences by the same encoder:

- the *text sequence*: ``[soft prompt][visual prefix] [CLS] text [SEP]``; its tokens never attend to
  caption or knowledge (as with an attention mask that hides the side tokens from the text), so
  knowledge cannot disturb the text's own encoding; with ``inline_knowledge_tokens`` the knowledge
  sentences are appended, ``[CLS] text [SEP] knowledge [SEP]``, and read by the trainable encoder with
  the text (the paper's template), cut to that many subwords (with ``inline_knowledge_shapes`` their words' shapes too);
- the *side sequence*: ``[CLS] caption [SEP] knowledge [SEP]``, read by the text tokens through a
  gated cross-attention whose gate starts at 0 (see ``fusion.py``).

Truncation budget (in subwords of the encoder's tokenizer):

1. text: up to ``max_text_tokens`` (the first words are kept; words cut off get no entity);
   text is never shortened to make room for caption or knowledge, which live in their own sequence;
2. caption: up to ``max_caption_tokens``;
3. knowledge: whatever remains of ``max_knowledge_tokens`` after ``[CLS] caption [SEP]``, cut at the end.

With ``filter_knowledge`` only the knowledge sentences that share a content word with the post text
(a word of 3+ letters that is not a stop word, case-insensitive, ``#``/``@`` stripped) are kept:
sentences about the post's entity candidates, not the LLM's generic filler.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from kecpm.data.schema import Post
from kecpm.model.mentions import normalise
from kecpm.model.pair_sentences import sentence_index
from kecpm.model.shapes import word_shape


@dataclass
class Batch:
    """Tensors for a batch of posts."""

    text_ids: torch.Tensor  # (B, Lt)
    text_mask: torch.Tensor  # (B, Lt)
    word_index: torch.Tensor  # (B, Lt): word of each subword, -1 for special/pad tokens
    shape_ids: torch.Tensor  # (B, Lt): shape (kecpm.model.shapes) of each subword's word, 0 for special/pad
    n_words: list[int]  # words kept per post after truncation
    side_ids: torch.Tensor | None = None  # (B, Ls)
    side_mask: torch.Tensor | None = None  # (B, Ls)
    know_mask: torch.Tensor | None = None  # (B, Ls): 1 on knowledge tokens (dropout targets)
    side_sentence: torch.Tensor | None = None  # (B, Ls): knowledge sentence of each side token, -1 elsewhere
    # (only with pair_sentences, kecpm.model.pair_sentences)
    text_know: torch.Tensor | None = None  # (B, Lt): 1 on the knowledge appended to the text (inline_knowledge_tokens)
    has_knowledge: list[bool] | None = None  # per post, knowledge kept outside the side sequence (knowledge_in_side off)
    visual_ids: torch.Tensor | None = None  # (B, Lv): MoRe's visual expert's side sequence (kecpm.model.experts)
    visual_mask: torch.Tensor | None = None  # (B, Lv)
    visual_know: torch.Tensor | None = None  # (B, Lv): 1 on retrieved passages' tokens
    image_paths: list[str | None] | None = None
    post_ids: list[str] | None = None  # names the posts in warnings (e.g. an unreadable image)

    def to(self, device: torch.device) -> Batch:
        """This batch with its tensors on ``device``."""
        moved = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in vars(self).items()}
        return Batch(**moved)


STOP_WORDS = frozenset(
    "the and for are was were with that this from have has had not but you your they them their his her "
    "its our who what when where which will would can could should about into than then there these those "
    "been being also just more most some such only other very all any one two new rt amp http https".split())
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def content_words(text: str) -> set[str]:
    """Lower-cased words of 3+ characters that are not stop words."""
    return {w for w in _WORD.findall(text.lower()) if len(w) >= 3 and w not in STOP_WORDS}


def relevant_sentences(sentences: list[str], tokens: list[str]) -> list[str]:
    """The sentences sharing at least one content word with the post's tokens."""
    words = content_words(" ".join(tokens))
    return [s for s in sentences if content_words(s) & words]


def read_sentences(post: Post, filter_knowledge: bool) -> list[str]:
    """The post's knowledge sentences as a model reads them: with ``filter_knowledge`` only the relevant ones."""
    sentences = post.knowledge or []
    return relevant_sentences(sentences, post.tokens) if filter_knowledge else list(sentences)


def pad_rows(rows: list[list[int]], value: int) -> torch.Tensor:
    """(len(rows), longest row) long tensor of the rows, right-padded with ``value``."""
    width = max(1, max(len(r) for r in rows))
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


class InputLayout:
    """Turns posts into a ``Batch`` following the budget above."""

    def __init__(self, tokenizer, max_text_tokens: int, max_caption_tokens: int,
                 max_knowledge_tokens: int, use_caption: bool, use_knowledge: bool,
                 filter_knowledge: bool = False, knowledge_in_side: bool = True, index_sentences: bool = False,
                 inline_knowledge_tokens: int = 0, inline_shapes: bool = False) -> None:
        self.tok = tokenizer
        self.max_text = max_text_tokens
        self.max_caption = max_caption_tokens
        self.max_side = max_knowledge_tokens
        self.use_caption = use_caption
        self.use_knowledge = use_knowledge
        self.filter_knowledge = filter_knowledge
        self.knowledge_in_side = knowledge_in_side
        self.index_sentences = index_sentences  # Batch.side_sentence (pair / span sentences)
        self.max_inline = inline_knowledge_tokens
        self.inline_shapes = inline_shapes  # word shapes on the inline knowledge's subwords too

    def _text(self, tokens: list[str]) -> tuple[list[int], list[int], int, list[int]]:
        ids, widx, shapes = [self.tok.cls_token_id], [-1], [0]
        words = self.tok(list(tokens), add_special_tokens=False)["input_ids"] if tokens else []  # one call a post
        for w, (word, sub) in enumerate(zip(tokens, words, strict=True)):
            sub = sub or [self.tok.unk_token_id]
            if len(ids) - 1 + len(sub) > self.max_text:
                return ids + [self.tok.sep_token_id], widx + [-1], w, shapes + [0]
            ids += sub
            widx += [w] * len(sub)
            shapes += [word_shape(word)] * len(sub)
        return ids + [self.tok.sep_token_id], widx + [-1], len(tokens), shapes + [0]

    def _inline(self, post: Post) -> tuple[list[int], list[int]]:
        """The knowledge appended to the text sequence: its subwords and a closing [SEP] (none without any), and
        their word shapes (``inline_shapes``; else 0, as for special tokens)."""
        sentences = self.knowledge_sentences(post) if self.max_inline else []
        if not sentences:
            return [], []
        if not self.inline_shapes:
            know = self.tok.encode(" ".join(sentences), add_special_tokens=False)[: self.max_inline]
            shapes = [0] * len(know)
        else:  # word by word (the tokenizer splits at spaces first: the same subwords) to know each one's word
            words = " ".join(sentences).split()
            subs = self.tok(words, add_special_tokens=False)["input_ids"]
            know = [t for sub in subs for t in sub][: self.max_inline]
            shapes = [word_shape(w) for w, sub in zip(words, subs, strict=True) for _ in sub][: self.max_inline]
        return (know + [self.tok.sep_token_id], shapes + [0]) if know else ([], [])

    def _side(self, post: Post) -> tuple[list[int], list[int]]:
        sentences = self.knowledge_sentences(post) if self.knowledge_in_side else []
        return self.side_sequence(post.caption if self.use_caption else None, sentences)

    def side_sequence(self, first: str | None, sentences: list[str]) -> tuple[list[int], list[int]]:
        """``[CLS] first [SEP] sentences [SEP]`` in the side budget (``first`` cut to the caption budget,
        the sentences to what remains) and its knowledge mask (1 on the sentences' tokens)."""
        cap: list[int] = []
        if first:
            cap = self.tok.encode(first, add_special_tokens=False)[: self.max_caption]
        ids = [self.tok.cls_token_id, *cap, self.tok.sep_token_id]
        know: list[int] = []
        if sentences:
            room = self.max_side - len(ids) - 1
            know = self.tok.encode(" ".join(sentences), add_special_tokens=False)[: max(room, 0)]
        if know:
            ids = ids + know + [self.tok.sep_token_id]
        return ids, [0] * (len(cap) + 2) + [1] * len(know) + ([0] if know else [])

    def knowledge_sentences(self, post: Post) -> list[str]:
        """The post's knowledge sentences the model reads (none without ``use_knowledge``; filtered)."""
        return read_sentences(post, self.filter_knowledge) if self.use_knowledge else []

    def sentences(self, post: Post) -> list[str]:
        """``knowledge_sentences`` normalised for mention matching (``kecpm.model.mentions``)."""
        return [normalise(s) for s in self.knowledge_sentences(post)]

    def _sentence_row(self, post: Post, know: list[int]) -> list[int]:
        """Each side token's knowledge sentence (``kecpm.model.pair_sentences``), -1 outside the knowledge."""
        n = sum(know)
        row = [-1] * len(know)
        if n:
            first = know.index(1)
            idx = sentence_index(self.tok, self.knowledge_sentences(post), n)[:n]  # offsets cover every subword
            row[first:first + len(idx)] = idx
        return row

    def pad_sides(self, sides: list[tuple[list[int], list[int]]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Side sequences (``side_sequence`` outputs) padded into ids, mask and knowledge mask (B, Ls)."""
        return (pad_rows([s[0] for s in sides], self.tok.pad_token_id or 0), pad_rows([[1] * len(s[0]) for s in sides], 0),
                pad_rows([s[1] for s in sides], 0))

    @property
    def has_side(self) -> bool:
        return self.use_caption or (self.use_knowledge and self.knowledge_in_side)

    def __call__(self, posts: list[Post], use_image: bool = False) -> Batch:
        texts = [self._text(p.tokens) for p in posts]
        inline = [self._inline(p) for p in posts]
        has_inline = any(k for k, _ in inline)
        if has_inline:
            texts = [(ids + k, words + [-1] * len(k), n, shapes + ks)
                     for (ids, words, n, shapes), (k, ks) in zip(texts, inline, strict=True)]
        pad = self.tok.pad_token_id or 0
        text_ids = pad_rows([t[0] for t in texts], pad)
        batch = Batch(
            text_ids=text_ids,
            text_mask=pad_rows([[1] * len(t[0]) for t in texts], 0),
            word_index=pad_rows([t[1] for t in texts], -1),
            n_words=[t[2] for t in texts],
            shape_ids=pad_rows([t[3] for t in texts], 0),
            image_paths=[p.image_path for p in posts] if use_image else None,
            post_ids=[p.id for p in posts],
        )
        if has_inline:
            batch.text_know = pad_rows([[0] * (len(t[0]) - len(k)) + [1] * len(k) for t, (k, _) in zip(texts, inline,
                                                                                                      strict=True)], 0)
        if self.has_side:
            sides = [self._side(p) for p in posts]
            batch.side_ids, batch.side_mask, batch.know_mask = self.pad_sides(sides)
            if self.index_sentences and self.use_knowledge and self.knowledge_in_side:
                batch.side_sentence = pad_rows([self._sentence_row(p, know) for p, (_, know) in zip(posts, sides,
                                                                                                     strict=True)], -1)
        if self.use_knowledge and not self.knowledge_in_side:
            batch.has_knowledge = [bool(self.knowledge_sentences(p)) for p in posts]
        return batch

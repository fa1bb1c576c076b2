"""ModelConfig: the prompt model's architecture and input layout, saved in every model directory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from kecpm.config import Config, ConfigError, option
from kecpm.data.schema import Post
from kecpm.model.tasks import TASKS, Task, TaskSpec
from kecpm.packaged import default_encoder

EXPERTS = ("text", "visual", "mix")  # MoRe's experts (kecpm.model.experts)
PIPELINE_PARTS = ("entity", "relation")  # the two models of model.pipeline (kecpm.train.pipeline)
TASK_DESCRIPTION = (
    "Find the people, organizations, locations and other named entities in this social media post "
    "and the relations between them."
)


@dataclass
class ModelConfig(Config):
    """Architecture of the cross-modal soft-prompt extraction model."""

    # Saved configs without these keys predate them: load them with the behaviour they were trained with.
    SAVED_DEFAULTS: ClassVar[dict[str, object]] = {"gate_per_dimension": False, "filter_knowledge": False,
                                                   "pair_knowledge": False, "word_shapes": False,
                                                   "knowledge_mentions": False, "knowledge_hints": False,
                                                   "knowledge_in_side": True, "min_triples": 0,
                                                   "relation_negatives": 0, "pipeline": False,
                                                   "pair_sentences": False, "span_sentences": False}
    # Options tried, measured or not kept, and removed after models had been saved with them (off): those load.
    RETIRED: ClassVar[dict[str, object]] = {"joint_types": False, "knowledge_in_text": False,
                                            "relation_negatives_detached": False}

    task: Task = option(Task.JMERE, "What to extract: " + "; ".join(f"{t.value} = {s.help}" for t, s in TASKS.items()) + ".")
    pipeline: bool = option(False, "JMERE as two models, each with its own encoder (PURE): an entity model (task mner, "
                                   "best epoch by val entity F1) and a relation model (task mre, trained on the gold "
                                   "entities) that relates the entity model's entities (kecpm.model.pipeline).")
    encoder: str = option("", "HF encoder id or local path; empty = the packaged all-MiniLM-L6-v2.")
    word_shapes: bool = option(True, "Add a learned vector of each word's shape (Capitalised, ALLCAPS, @, #, "
                                     "number, url, ...) to its subwords' input embeddings: case for an uncased encoder "
                                     "(+3.3 rel-strict on the paper's splits, docs/benchmarks.md).")
    init_from: str = option("", "Warm start: a trained kecpm model folder or HF hub id (e.g. from `kecpm pretrain-entities`) whose "
                                "encoder and span head start this model; the relation head starts fresh.")
    init_type_map: dict[str, str] = option({}, "Warm start: source entity type -> this model's type (or \"none\" to drop "
                                               "it), for types the default map (PER->per, OTHER/MISC->misc, "
                                               "else lower case) gets wrong.")
    freeze_encoder: bool = option(False, "Freeze the encoder (pure prompt tuning); else fine-tune it.")
    soft_prompt_tokens: int = option(8, "Number m of soft prompt vectors; 0 disables the soft prompt.")
    task_description: str = option(TASK_DESCRIPTION, "Text whose embeddings initialise the soft prompt.")
    use_image: bool = option(True, "Visual prefix (image features or the learned no-image vector) and caption.")
    visual_tokens: int = option(4, "Number of visual prefix vectors (EfficientNet map pooled to a grid).")
    image_model: str = option("", "EfficientNet-Lite0 .pth path; empty = the packaged weights.")
    use_knowledge: bool = option(True, "Fuse the post's knowledge sentences via gated cross-attention.")
    filter_knowledge: bool = option(
        True, "Keep only knowledge sentences that share a content word with the post text (its entity candidates).")
    gate_per_dimension: bool = option(True, "One fusion gate per hidden dimension (else a single scalar gate).")
    pair_knowledge: bool = option(
        True, "The relation head also reads the caption + knowledge with each entity pair as the query (gated).")
    knowledge_mentions: bool = option(
        True, "Span and pair features: whether the knowledge names the span, and both entities of a pair in one "
              "sentence (knowledge anchored to mentions, kecpm.model.mentions): +1.4 rel-strict on the paper's "
              "splits and +2.6 at K=5 against the knowledge read as one blob (docs/benchmarks.md).")
    pair_sentences: bool = option(
        False, "The relation head reads, for each entity pair, the knowledge sentences that name both its entities "
               "(attention with the pair as query over those sentences' side states, and their mean; gated, zero at "
               "first; kecpm.model.pair_sentences). Needs knowledge_mentions and knowledge_in_side.")
    span_sentences: bool = option(
        False, "The span head reads, for each candidate span, the knowledge sentences that name it (as pair_sentences "
               "does for pairs: attention with the span as query, and their mean; gated, zero at first). Needs a span "
               "head (task jmere or mner), knowledge_mentions and knowledge_in_side. Measured on the paper's splits: a "
               "loss (-0.9 rel-strict, -0.6 entity F1), hence off.")
    knowledge_definitions: bool = option(
        False, "The span head adds, for each candidate span that opens a knowledge sentence (\"Nestle is a food "
               "company\"), a learned linear map (zero at first) of those sentences' mean embedding by the frozen side "
               "encoder to its scores over none and the types: the LLM's definition as type evidence with a learned "
               "trust (kecpm.model.definitions). Needs a span head (task jmere or mner) and use_knowledge. Measured on the "
               "paper's splits: -0.3 rel-strict [-1.0, +0.4] (docs/benchmarks.md), hence off.")
    knowledge_in_side: bool = option(
        True, "Also put the knowledge sentences in the side sequence, read by the frozen side encoder (fusion and pair "
              "reader). false = the knowledge only anchors mentions (knowledge_mentions, knowledge_hints) and the side "
              "sequence holds the caption alone: prediction with knowledge about 2x faster, but -1.6 rel-strict at K=5 and -0.9 "
              "entity F1 on the paper's splits (docs/benchmarks.md).")
    inline_knowledge_tokens: int = option(
        0, "Subword budget of the knowledge sentences (the ones the model sees, filtered) appended to the text "
           "sequence, [CLS] text [SEP] knowledge [SEP], so the trainable encoder reads them with the text in its "
           "self-attention, as the paper's template does (0 = off; nothing is appended without use_knowledge). "
           "The knowledge tokens are no words: no entity spans there. Knowledge dropout hides them too.")
    inline_knowledge_shapes: bool = option(
        False, "The inline knowledge's subwords get their word's shape vector too (word_shapes), as the text's do: the "
               "uncased encoder then sees which knowledge words are Capitalised, ALLCAPS, @, # (the names the LLM "
               "writes with capitals). Needs word_shapes and inline_knowledge_tokens. Measured on the paper's splits: "
               "-0.9 rel-strict [-1.8, -0.1] in the entity model (docs/benchmarks.md), hence off.")
    inline_knowledge_segment: bool = option(
        False, "The inline knowledge (and its closing [SEP]) is the encoder's second segment, token type 1, as BERT reads "
               "a sentence pair ([CLS] A [SEP] B [SEP]); else all token type 0. Needs inline_knowledge_tokens and an "
               "encoder with two token types. Measured in the entity model on the paper's splits: -0.7 rel-strict "
               "[-1.5, +0.0], -0.6 entity F1 (docs/benchmarks.md), hence off.")
    inline_knowledge_in: str = option(
        ",".join(PIPELINE_PARTS), "With pipeline: the models whose text sequence holds the inline knowledge "
                                  "(inline_knowledge_tokens), 'entity', 'relation' or both comma-separated; 'entity' "
                                  "measured best on the paper's splits (docs/benchmarks.md). Unused without pipeline.")
    knowledge_hints: bool = option(
        False, "Span features: a learned vector per entity type, zero at first, for spans that a stage-1 entity hint "
               "(gen-knowledge --format hints) names with that type: how far to trust the LLM's types "
               "(kecpm.model.hints). Posts without hints are read as before.")
    knowledge_dropout: float = option(0.3, "Training probability of hiding a post's knowledge entirely.")
    inline_knowledge_dropout: float = option(
        -1.0, "knowledge_dropout of a model whose text sequence holds the knowledge inline (inline_knowledge_tokens; "
              "with pipeline, the models of inline_knowledge_in): one draw hides it from all of that model's readers. "
              "-1 = knowledge_dropout. Measured in the entity model on the paper's splits against 0.3: 0 is -2.5 "
              "rel-strict [-3.8, -1.1], 0.5 is +0.1 [-0.7, +0.9] (docs/benchmarks.md).")
    inline_knowledge_sentence_dropout: float = option(
        0.0, "Training, in a model that reads the knowledge inline (inline_knowledge_tokens; with pipeline, the models "
             "of inline_knowledge_in): each step hides each knowledge sentence of a post with this probability and "
             "shuffles the order of the rest, for all of that model's readers of the knowledge (kecpm.model.sentence_"
             "dropout); 0 = off, every sentence in the LLM's order. Measured in the entity model on the paper's splits: "
             "0.2 is -1.0 rel-strict [-1.9, -0.1] (docs/benchmarks.md), hence off.")
    ib_weight: float = option(
        0.0, "MMIB refinement regulariser: weight of the KL terms of stochastic bottlenecks on the word "
             "states (after fusion), the side states and the visual prefix (kecpm.model.mmib); 0 = off.")
    align_weight: float = option(
        0.0, "MMIB alignment regulariser: weight of an InfoNCE between each post's text and its image (or, "
             "without one, its caption) over the batch (kecpm.model.mmib); 0 = off. Needs use_image.")
    align_temperature: float = option(0.1, "Temperature of the alignment InfoNCE.")
    max_text_tokens: int = option(128, "Subword budget of the text sequence (prefix vectors excluded).")
    max_caption_tokens: int = option(32, "Subword budget of the caption inside the knowledge sequence.")
    max_knowledge_tokens: int = option(160, "Subword budget of the whole caption + knowledge sequence.")
    max_span_width: int = option(8, "Longest entity span considered, in words.")
    span_none_weight: float = option(0.3, "Loss weight of the no-entity class for spans.")
    rel_none_weight: float = option(1.0, "Loss weight of the no-relation class for entity pairs.")
    entity_threshold: float = option(0.5, "A span is an entity when its no-entity probability is below this.")
    relation_threshold: float = option(0.5, "A pair gets a relation when its no-relation probability is below this.")
    min_triples: int = option(
        -1, "Decoding: at least this many triples per post. When fewer beat relation_threshold the likeliest other "
            "pairs are kept, and (JMERE) when fewer than two entities beat entity_threshold the likeliest further spans, "
            "so that a pair exists. -1 = set at training: 1 when every training post has a triple (MNRE/JMERE posts all "
            "do), else 0; 0 = off (e.g. for posts that may hold no relation).")
    relation_negatives: int = option(
        0, "Training: the relation head also reads up to this many spans per post that are no gold entity, every "
           "pair with them labelled no relation, as it meets such spans when predicting; 0 = gold entities only. "
           "A joint model takes the spans its span head wrongly takes for entities (2: +1.4 rel-strict at K=5, -2.2 "
           "on the paper's splits); a pipeline's relation model, which has no span head, runs of name-like words "
           "(capitals, @, #) that overlap no gold entity, with random types (docs/benchmarks.md).")
    head_dropout: float = option(0.1, "Dropout in the span and relation heads.")
    relation_prior_shift: dict[str, float] = option(
        {}, "Log weight added to each relation's score when choosing among relations: the prior-shift correction "
            "that `kecpm train --unlabelled` estimates (kecpm.model.prior); {} = none.")
    relation_temperature: float = option(1.0, "Temperature of the relation scores under the prior shift "
                                              "(fitted on val together with it).")
    retrieval: str = option("", "MoRe: passage corpus (JSONL with a text field, a file of posts, or .txt lines) "
                                "from which each post retrieves passages by its text and by its caption, read by "
                                "two experts (kecpm.model.experts); empty = off.")
    retrieval_top_k: int = option(3, "MoRe: passages retrieved per post and query.")
    retrieval_embedder: str = option("", "MoRe: sentence-transformers model (HF id or path) embedding passages and "
                                         "queries; empty = the packaged all-MiniLM-L6-v2.")
    retrieval_sha256: str = option("", "MoRe: sha256 of the corpus file, recorded when the model is built (its "
                                       "cached index is found by it at prediction time).")
    experts: str = option("mix", "MoRe: which experts read the retrieved passages: text (knowledge + passages "
                                 "retrieved by the text), visual (caption + passages retrieved by the caption) or "
                                 "mix (both, mixed per post by a learned gate).")
    entity_types: list[str] = option([], "Entity type labels (set from the training data).")
    relations: list[str] = option([], "Relation labels (set from the training data).")
    allowed_pairs: dict[str, list[list[str]]] = option(
        {}, "Per relation, the [head type, tail type] pairs seen in training (the schema constraint).")

    def __post_init__(self) -> None:
        try:
            self.task = Task(self.task)
        except ValueError:
            raise ConfigError(f"task: {self.task!r} is not one of {', '.join(t.value for t in Task)}") from None
        if self.inline_knowledge_tokens < 0:
            raise ConfigError(f"inline_knowledge_tokens must be >= 0 (0 = off), got {self.inline_knowledge_tokens}")
        if self.inline_knowledge_shapes and not (self.word_shapes and self.inline_knowledge_tokens):
            raise ConfigError("inline_knowledge_shapes gives the inline knowledge word shapes: it needs word_shapes and "
                              "inline_knowledge_tokens > 0")
        if self.inline_knowledge_segment and not self.inline_knowledge_tokens:
            raise ConfigError("inline_knowledge_segment makes the inline knowledge segment B: it needs "
                              "inline_knowledge_tokens > 0")
        if not self.inline_parts or not set(self.inline_parts) <= set(PIPELINE_PARTS):
            raise ConfigError(f"inline_knowledge_in: {self.inline_knowledge_in!r} is not 'entity', 'relation' or "
                              "'entity,relation'")
        for name in ("soft_prompt_tokens", "max_span_width", "max_text_tokens", "max_knowledge_tokens",
                     "max_caption_tokens"):
            if getattr(self, name) < (0 if name == "soft_prompt_tokens" else 1):
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.use_image and not 1 <= self.visual_tokens <= 49:
            raise ConfigError(f"visual_tokens must be in 1..49, got {self.visual_tokens}")
        if self.relation_negatives < 0:
            raise ConfigError(f"relation_negatives must be >= 0, got {self.relation_negatives}")
        if self.min_triples < -1:
            raise ConfigError(f"min_triples must be >= -1 (-1 = from the training data), got {self.min_triples}")
        for name in ("entity_threshold", "relation_threshold"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        for name in ("knowledge_dropout", "head_dropout", "inline_knowledge_sentence_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not (self.inline_knowledge_dropout == -1.0 or 0.0 <= self.inline_knowledge_dropout < 1.0):
            raise ConfigError(f"inline_knowledge_dropout must be in [0, 1) or -1 (= knowledge_dropout), "
                              f"got {self.inline_knowledge_dropout}")
        if self.inline_knowledge_sentence_dropout and not self.inline_knowledge_tokens:
            raise ConfigError("inline_knowledge_sentence_dropout varies the inline knowledge's sentences: it needs "
                              "inline_knowledge_tokens > 0")
        for name in ("ib_weight", "align_weight"):
            if not 0.0 <= getattr(self, name) < float("inf"):
                raise ConfigError(f"{name} must be >= 0 (and finite), got {getattr(self, name)}")
        if not self.align_temperature > 0:
            raise ConfigError(f"align_temperature must be > 0, got {self.align_temperature}")
        if self.align_weight > 0 and not self.use_image:
            raise ConfigError("align_weight needs use_image (text is aligned to the image or its caption)")
        if not self.relation_temperature > 0:
            raise ConfigError(f"relation_temperature must be > 0, got {self.relation_temperature}")
        if self.span_none_weight <= 0 or self.rel_none_weight <= 0:
            raise ConfigError("span_none_weight and rel_none_weight must be > 0")
        if self.experts not in EXPERTS:
            raise ConfigError(f"experts: {self.experts!r} is not one of {', '.join(EXPERTS)}")
        if self.experts != "mix" and not self.retrieval:
            raise ConfigError(f"experts={self.experts} needs retrieval (--retrieval CORPUS): without it there are no experts")
        if self.pipeline and self.task != Task.JMERE:
            raise ConfigError(f"pipeline is a way to do the jmere task (entity model + relation model), not {self.task.value}")
        if self.knowledge_hints and not self.use_knowledge:
            raise ConfigError("knowledge_hints needs use_knowledge (hints are seen only with the post's knowledge)")
        if self.retrieval and not self.knowledge_in_side:
            raise ConfigError("retrieval (MoRe's experts) reads the knowledge in its side sequences: it needs "
                              "knowledge_in_side")
        for name in ("pair_sentences", "span_sentences"):
            if getattr(self, name) and (not (self.knowledge_mentions and self.knowledge_in_side) or self.retrieval):
                raise ConfigError(f"{name} reads the knowledge sentences in the side sequence by their mentions: it "
                                  "needs knowledge_mentions and knowledge_in_side, and no retrieval (MoRe's experts)")
        if self.span_sentences and "span" not in self.task_spec.heads:
            raise ConfigError(f"span_sentences is read by the span head, which task {Task(self.task).value} does not have")
        if self.knowledge_definitions and not (self.use_knowledge and "span" in self.task_spec.heads):
            raise ConfigError(f"knowledge_definitions is read by the span head from the knowledge: it needs use_knowledge "
                              f"and a task with a span head, not {Task(self.task).value}"
                              f"{'' if self.use_knowledge else ' without use_knowledge'}")
        if self.retrieval_top_k < 1:
            raise ConfigError(f"retrieval_top_k must be positive, got {self.retrieval_top_k}")
        if self.retrieval and (self.ib_weight > 0 or self.align_weight > 0):
            raise ConfigError("retrieval (MoRe's experts) does not combine with the MMIB regularisers "
                              "(ib_weight, align_weight) yet")

    @property
    def inline_parts(self) -> list[str]:
        """The pipeline models given the inline knowledge (``inline_knowledge_in`` split)."""
        return [p.strip() for p in self.inline_knowledge_in.split(",") if p.strip()]

    @property
    def inline_dropout(self) -> float:
        """The knowledge dropout of a model that reads the knowledge inline."""
        return self.knowledge_dropout if self.inline_knowledge_dropout < 0 else self.inline_knowledge_dropout

    def resolve_min_triples(self, train: Sequence[Post]) -> ModelConfig:
        """This config with ``min_triples`` -1 resolved from the training posts: 1 when the task has a relation
        head and every training post has a triple, else 0."""
        if self.min_triples >= 0:
            return self
        every = bool(train) and all(p.triples for p in train)
        return self.replace(min_triples=int(every and "relation" in self.task_spec.heads))

    @property
    def encoder_path(self) -> str:
        return self.encoder or default_encoder()

    @property
    def task_spec(self) -> TaskSpec:
        return TASKS[Task(self.task)]

    @property
    def reads_sentences(self) -> bool:
        """Whether a head reads the knowledge sentences by their side tokens (pair or span sentences)."""
        return self.pair_sentences or self.span_sentences

    @property
    def has_side(self) -> bool:
        """Whether posts get a side sequence (caption with the image switch, knowledge, retrieved passages)."""
        return self.use_image or (self.use_knowledge and self.knowledge_in_side) or bool(self.retrieval)

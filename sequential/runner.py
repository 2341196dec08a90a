"""The RNN continual-learning runner shared by every sequential family (spec §3.0).

``run(config) -> summary`` reads top-down: setup -> data (:mod:`sequential.families`) -> networks
(:mod:`sequential.networks`) -> for each task: ``train_task`` (one ``train_step`` per iteration), after-task
bookkeeping (EWC Fisher, SI importances, coresets), ``evaluate`` on all tasks seen so far, summary and
checkpoints -> final report. The loss of one step is

.. math::
    L = \\frac{1}{B} \\sum_b \\ell(x_b, y_b) + \\beta L_\\text{hnet} + \\lambda_\\text{EWC} L_\\text{EWC}
        + \\lambda_\\text{SI} L_\\text{SI} + c_\\perp L_\\perp + \\lambda_\\text{distill} L_\\text{distill}

where only the terms of the chosen method are present: the hypernetwork output regulariser
(:mod:`utils.hnet_regularizer`), online EWC (:mod:`sequential.ewc`), SI (:mod:`sequential.si`), the orthogonal
hidden-to-hidden penalty (:func:`sequential.networks.orthogonal_regularizer`), coreset distillation
(:mod:`sequential.replay`) and, for generative replay / HNET+R, the VAE terms plus distillation on generated data
(:mod:`sequential.generative_replay`). Masks (:mod:`sequential.masks`) select per-task units; ``--multitask``
trains once on batches mixing all tasks; ``--train_from_scratch`` rebuilds the networks after every task.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from data.errors import DatasetError
from data.timeseries.sequence_task import SeqBatch, SeqSplit, concat_splits, to_batch, trim_padding
from hnets.base import HyperNet
from mnets.bi_rnn import BiRNN
from mnets.simple_rnn import SimpleRNN
from sequential import ewc, run_outputs, si, tb_logging
from sequential import generative_replay as gen
from sequential.families import Family, build_family, last_step_logits, weighted_fscore
from sequential.masks import generate_masks
from sequential.networks import (
    build_bidirectional_net,
    build_hnet,
    build_main_net,
    compression_ratio,
    hh_weight_ids,
    mask_layer_sizes,
    merge_weights,
    orthogonal_regularizer,
    output_head_mask,
    rnn_forward,
)
from sequential.replay import (
    bernoulli_distillation,
    sample_coreset,
    softmax_distillation,
    split_replay_batch,
    token_distillation,
)
from sequential.resume import resume, save_after_task
from sequential.stored_models import save_models, store_activations
from sequential.student_teacher.family import mse_distillation
from sequential.summary_keys import ACCURACY_KEYS, summary_keys
from sequential.word_embeddings import WordEmbeddings, initial_tables
from utils.cli import ConfigError
from utils.ewc import decay_fisher_, ewc_penalty, online_fisher
from utils.hnet_regularizer import compute_targets, hnet_output_regularizer, select_tasks, tasks_to_regularize
from utils.progress import itstime, progress
from utils.run_env import RunEnv, setup_environment, write_config
from utils.summary import write_summary
from utils.training import NonFiniteLossError, adam, clip_gradients

SUMMARY_KEYS = ACCURACY_KEYS  # kept for callers of the accuracy families
LOG_EVERY = 50
#: Sequences per batched Fisher pass (:func:`sequential.ewc.fisher_diagonal`). Bounds the memory: the chunk's
#: activations (e.g. LSTM 256, 100 steps: ~0.2 GB) or, on the weight-copy path (BiRNN, masks), 2 x 64 copies of
#: the weights; larger chunks are not faster (0.17 ms per sequence at 64, 256 and 512 on the copy task).
FISHER_MICRO_BATCH = 64




# ----------------------------------------------------------------------------------------------------------
# Supported options
# ----------------------------------------------------------------------------------------------------------
def check_supported(config: argparse.Namespace) -> None:
    """Reject options this runner does not implement, with one line naming the flag (never silently ignore)."""
    c = vars(config)
    unsupported = [
        "replay_true_data", "use_context_mod", "checkpoint_context_mod", "sparsify_context_mod",
        "context_mod_inputs", "all_task_softmax", "train_tnet_once",
        "train_only_heads_after_first", "dont_train_heads", "reinit_tnet", "last_task_only",
        "distill_across_time", "context_mod_per_ts",
    ]
    for flag in unsupported:
        if c.get(flag):
            raise ConfigError(f"--{flag} is not supported by this runner (no README run uses it)")
    if c.get("early_stopping_thld", -1) != -1:
        raise ConfigError("--early_stopping_thld is not supported by this runner (no README run uses it)")
    if config.multitask and (config.hnet_all or config.use_masks):
        raise ConfigError("--multitask cannot be combined with --hnet_all or --use_masks in this runner")
    if config.parser_mode not in ("copy", "split_smnist", "seq_smnist", "split_audioset", "pos", "student_teacher"):
        raise ConfigError(f"the {config.parser_mode} script is not implemented yet (implemented: copy, "
                          "split_smnist, seq_smnist, split_audioset, pos and student_teacher)")


# ----------------------------------------------------------------------------------------------------------
# Networks and per-method state
# ----------------------------------------------------------------------------------------------------------
@dataclass
class Model:
    """The trained networks: the main RNN (a BiRNN for PoS), optionally a hypernetwork generating all its
    weights, masks, the replay decoder of generative replay (its weights generated by ``dec_hnet`` under HNET+R),
    and the per-language word embeddings of PoS tagging."""

    mnet: SimpleRNN | BiRNN
    hnet: HyperNet | None = None
    masks: list[list[Tensor]] | None = None
    decoder: SimpleRNN | None = None
    dec_hnet: HyperNet | None = None
    wembs: WordEmbeddings | None = None

    def parameters(self, task: int | None = None) -> list[nn.Parameter]:
        """Everything the optimiser trains (hypernetwork: all task and chunk embeddings included; PoS: the word
        embeddings of ``task``, of all tasks for None)."""
        params = list(self.mnet.internal_params or [])
        for net in (self.hnet, self.decoder, self.dec_hnet):
            if net is not None:
                params += list(net.internal_params or [])
        if self.wembs is not None:
            params += self.wembs.trainable_params(task)
        return params

    @property
    def protected_hnet(self) -> HyperNet | None:
        """The hypernetwork whose outputs the regulariser keeps (the main network's, or the decoder's)."""
        return self.hnet if self.hnet is not None else self.dec_hnet

    def main_weights(self) -> list[Tensor]:
        """The main network's own weights (what EWC and SI protect; masks excluded)."""
        return list(self.mnet.internal_params)

    def task_weights(self, task: int) -> list[Tensor] | None:
        """The weights to run task ``task`` with (generated by the hypernetwork, or masks + own weights)."""
        if self.hnet is not None:
            return [w[0] for w in self.hnet.target_weights(self.hnet(cond_id=task))]
        if self.masks is not None:
            return merge_weights(self.mnet, self.masks[task], self.main_weights())
        return None

    def decoder_weights(self, task: int) -> list[Tensor] | None:
        """The decoder's weights for task ``task`` (HNET+R: generated; otherwise None = its own weights)."""
        if self.dec_hnet is None:
            return None
        return [w[0] for w in self.dec_hnet.target_weights(self.dec_hnet(cond_id=task))]


@dataclass
class MethodState:
    """What the CL methods carry from one task to the next."""

    hnet_targets: Tensor | None = None  # [t, P]
    head_masks: Tensor | None = None  # [num_tasks, P] (multi-head hnet regulariser)
    fisher: list[Tensor] | None = None
    anchors: list[Tensor] | None = None
    si_omega: list[Tensor] | None = None
    si_big_omega: list[Tensor] | None = None
    si_start: list[Tensor] | None = None
    coresets: list[Tensor] = field(default_factory=list)
    teacher: list[Tensor] | None = None  # weights snapshot at the start of the task (distillation)
    dec_snapshot: list[Tensor] | None = None  # decoder weights at the task start ([t, *shape] per tensor: HNET+R)


def uses_generative_replay(config: argparse.Namespace) -> bool:
    """``--use_replay`` without coresets: a VAE decoder generates the replayed data."""
    return config.use_replay and config.coreset_size == -1


def build_model(config: argparse.Namespace, fam: Family, device: torch.device) -> Model:
    """Main network (+ hypernetwork / masks / replay decoder) for the family's input and output sizes."""
    n_tasks = config.num_tasks
    generative = uses_generative_replay(config)
    n_in = fam.in_dim + (n_tasks if config.input_task_identity else 0)
    n_out = fam.head_dim * (n_tasks if config.multi_head else 1)
    n_out += 2 * config.latent_dim if generative else 0  # encoder units: posterior mean and log-variance
    hnet_for_mnet = config.hnet_all and not generative  # under replay the hnet generates the decoder (HNET+R)
    build = build_bidirectional_net if config.parser_mode == "pos" and config.use_bidirectional_net else build_main_net
    mnet = build(config, n_in, n_out, no_weights=hnet_for_mnet, use_masks=config.use_masks)
    model = Model(mnet.to(device))
    if fam.words is not None:  # PoS: word ids -> per-language vectors
        words = fam.words
        tables = initial_tables([words.embeddings(t) for t in range(n_tasks)],
                                [words.vocab_size(t) for t in range(n_tasks)], words.embedding_dim)
        model.wembs = WordEmbeddings(tables, trainable=not config.dont_learn_wembs).to(device)
    if hnet_for_mnet:
        model.hnet = build_hnet(config, mnet.param_shapes, n_tasks, mnet.param_shapes_meta).to(device)
    if generative:
        model.decoder = gen.build_decoder(config, fam.in_dim, n_tasks).to(device)
        if config.hnet_all:
            model.dec_hnet = build_hnet(config, model.decoder.param_shapes, n_tasks,
                                        model.decoder.param_shapes_meta).to(device)
    if config.use_masks:
        model.masks = generate_masks(mask_layer_sizes(mnet), n_tasks, config.mask_fraction, device=device)
    return model


# ----------------------------------------------------------------------------------------------------------
# Forward, loss and evaluation
# ----------------------------------------------------------------------------------------------------------
def network_inputs(config: argparse.Namespace, batch: SeqBatch, wembs: WordEmbeddings | None = None) -> Tensor:
    """``[T, B, F]`` inputs (PoS: the word vectors of the ids), with the task one-hot appended at every step
    under ``--input_task_identity``."""
    inputs = batch.inputs if wembs is None else wembs(batch.inputs[..., 0], batch.task_ids)  # [T, B, F]
    if not config.input_task_identity:
        return inputs
    T, B, _ = inputs.shape
    onehot = nn.functional.one_hot(batch.task_ids, config.num_tasks).float()  # [B, num_tasks]
    return torch.cat([inputs, onehot[None].expand(T, B, -1)], dim=-1)


def select_head(config: argparse.Namespace, logits: Tensor, task_ids: Tensor, head_dim: int) -> Tensor:
    """One head per sample: ``[T, B, O_all]`` -> ``[T, B, O]`` (task ``k`` uses units ``k*O .. (k+1)*O``)."""
    if not config.multi_head:
        return logits[..., :head_dim]
    T, B = logits.shape[:2]
    heads = logits[..., : head_dim * config.num_tasks].reshape(T, B, config.num_tasks, head_dim)
    return heads.gather(2, task_ids[None, :, None, None].expand(T, B, 1, head_dim))[:, :, 0]


def forward_heads(config, model: Model, fam: Family, batch: SeqBatch, weights) -> Tensor:
    """The batch's head logits ``[T, B, O]``."""
    logits = rnn_forward(model.mnet, network_inputs(config, batch, model.wembs), weights, batch.lengths)
    return select_head(config, logits, batch.task_ids, fam.head_dim)


@torch.no_grad()
def evaluate(config, model: Model, fam: Family, task_id: int, split: str = "test",
             chunk: int = 2000, confusion: Tensor | None = None) -> tuple[float, float]:
    """Accuracy (%) and mean per-sample loss of a task's split, with the task's weights / head / mask.

    Args:
        confusion: ``[O, O]`` counts (PoS) to which the (true, predicted) tags of all scored tokens are added,
            for the F-score.
    """
    was_training = model.mnet.training
    model.mnet.eval()
    if model.hnet is not None:
        model.hnet.eval()
    task = fam.tasks[task_id]
    data = task.splits[split]
    weights = model.task_weights(task_id)
    hits = count = loss = 0.0
    for start in range(0, len(data), chunk):
        idx = torch.arange(start, min(start + chunk, len(data)), device=data.inputs.device)
        batch = to_batch(data.select(idx), task_id)
        logits = forward_heads(config, model, fam, batch, weights)
        h, c = fam.correct(logits, batch)
        hits, count = hits + h, count + c
        loss += float(fam.loss(logits, batch).sum())
        if confusion is not None:
            confusion += fam.confusion(logits, batch)
    model.mnet.train(was_training)
    if model.hnet is not None:
        model.hnet.train(was_training)
    return 100.0 * hits / max(count, 1.0), loss / len(data)


def multitask_batch(fam: Family, batch_size: int, rng: np.random.RandomState) -> SeqBatch:
    """A batch whose samples come from tasks drawn uniformly per sample (``--multitask``)."""
    counts = np.bincount(rng.randint(len(fam.tasks), size=batch_size), minlength=len(fam.tasks))
    parts, ids = [], []
    for t, n in enumerate(counts):
        if n > 0:
            parts.append(fam.tasks[t].take("train", int(n)))
            ids.append(torch.full((int(n),), t, dtype=torch.long))
    batch = to_batch(concat_splits(parts), 0)
    batch.task_ids = torch.cat(ids).to(batch.inputs.device)
    return batch


# ----------------------------------------------------------------------------------------------------------
# One training step
# ----------------------------------------------------------------------------------------------------------
def regularizers(config, model: Model, fam: Family, state: MethodState, task_id: int, weights,
                 rng: np.random.RandomState, train_batch_size: int) -> dict[str, Tensor]:
    """The weighted regularisers of the current step (only the active ones), by name."""
    terms: dict[str, Tensor] = {}
    hnet = model.protected_hnet
    if hnet is not None and state.hnet_targets is not None and config.beta > 0:
        ids = tasks_to_regularize(task_id, config.hnet_reg_batch_size, rng)
        current = hnet.padded_outputs(ids)  # [S, Q >= P] with the current (trainable) task embeddings
        mask = None if state.head_masks is None else select_tasks(state.head_masks, ids)
        terms["hnet"] = config.beta * hnet_output_regularizer(current, select_tasks(state.hnet_targets, ids), mask)
    if config.use_ewc and state.fisher is not None:
        if not config.fix_online_ewc:  # the original's quirk: F *= gamma in place at every step (no-op at gamma 1)
            decay_fisher_(state.fisher, config.ewc_gamma)
        terms["ewc"] = config.ewc_lambda * ewc_penalty(model.main_weights(), state.anchors, state.fisher)
    if config.use_si and state.si_big_omega is not None and task_id > 0:
        terms["si"] = config.si_lambda * si.si_penalty(model.main_weights(), state.si_start, state.si_big_omega)
    if config.orthogonal_hh_reg > 0:
        w = weights if weights is not None else model.main_weights()  # full param_shapes list either way
        terms["orthogonal"] = config.orthogonal_hh_reg * orthogonal_regularizer(w, hh_weight_ids(model.mnet),
                                                                                 model.mnet.use_lstm)
    if config.coreset_size > 0 and state.teacher is not None and task_id > 0:
        terms["distill"] = config.replay_distill_reg * coreset_distillation(
            config, model, fam, state, task_id, rng, train_batch_size)
    return terms


def coreset_distillation(config, model: Model, fam: Family, state: MethodState, task_id: int,
                         rng: np.random.RandomState, batch_size: int) -> Tensor:
    """Distillation on replayed coreset samples of all previous tasks, summed over tasks (spec §3.5)."""
    total = torch.zeros((), device=fam.tasks[0].splits["train"].inputs.device)
    for j, n in enumerate(split_replay_batch(batch_size, task_id, rng)):
        if n == 0:
            continue
        idx = state.coresets[j][torch.from_numpy(rng.randint(len(state.coresets[j]), size=n))]
        batch = to_batch(fam.tasks[j].splits["train"].select(idx.to(total.device)), j)
        student = forward_heads(config, model, fam, batch, None)
        with torch.no_grad():
            teacher = forward_heads(config, model, fam, batch, state.teacher)
        if fam.kind == "regression":  # student-teacher: squared error to the snapshot's outputs
            total = total + mse_distillation(student, teacher)
        elif fam.kind == "copy":
            total = total + bernoulli_distillation(student, teacher, batch.window)
        elif fam.kind == "tokens":  # PoS: every unpadded token of the replayed sentences
            total = total + token_distillation(student, teacher, batch.lengths)
        else:
            # The original reads the step after the last unpadded one (its eod-based off-by-one), kept here.
            total = total + softmax_distillation(last_step_logits(student, batch.lengths, 1),
                                                 last_step_logits(teacher, batch.lengths, 1))
    return total


def generative_replay_terms(config, model: Model, fam: Family, state: MethodState, task_id: int, batch: SeqBatch,
                            outputs: Tensor, rng: np.random.RandomState) -> tuple[dict[str, Tensor], dict[str, float]]:
    """Weighted VAE terms and, for t > 0, distillation on generated data (spec §3.6), plus ``acc_replayed``.

    Args:
        outputs: The classifier's outputs ``[T, B, O_all]`` on the current batch (heads and encoder units).
    """
    bernoulli = fam.kind == "copy"
    rec, kl = gen.vae_losses(model.decoder, outputs, batch.inputs, batch.task_ids, model.decoder_weights(task_id),
                             config, bernoulli)
    rec, kl = rec.mean(), kl.mean()
    terms, measured = {}, {}
    if task_id > 0:
        counts = split_replay_batch(batch.size, task_id, rng)
        replay = gen.generate_replay(model.decoder, state.dec_snapshot, counts,
                                     [fam.tasks[j].max_len for j in range(task_id)], config, bernoulli)
        student = rnn_forward(model.mnet, replay.inputs)  # [T, R, O_all]
        with torch.no_grad():
            teacher = rnn_forward(model.mnet, replay.inputs, state.teacher)
        kd, hits, count = gen.replay_distillation(
            fam.kind, select_head(config, student, replay.task_ids, fam.head_dim),
            select_head(config, teacher, replay.task_ids, fam.head_dim), replay)
        terms["distill"] = config.replay_distill_reg * gen.sum_of_task_means(kd, replay.task_ids)
        measured["acc_replayed"] = 100.0 * hits / max(count, 1.0)
        if model.dec_hnet is None:  # the shared decoder also learns the replayed data (replay-through-feedback)
            rec_r, kl_r = gen.vae_losses(model.decoder, student, replay.inputs, replay.task_ids, None, config,
                                         bernoulli, replay.valid)
            rec = rec + gen.sum_of_task_means(rec_r, replay.task_ids)
            kl = kl + gen.sum_of_task_means(kl_r, replay.task_ids)
    terms["vae_rec"] = config.replay_rec_strength * rec
    terms["vae_pm"] = config.replay_pm_strength * kl
    return terms, measured


def train_step(config, model: Model, fam: Family, state: MethodState, task_id: int, batch: SeqBatch,
               optimizer: torch.optim.Optimizer, params: list[nn.Parameter], rng: np.random.RandomState,
               protect_si: bool) -> dict[str, float]:
    """One optimisation step; returns the measured losses (task loss and every active regulariser)."""
    optimizer.zero_grad(set_to_none=False)
    weights = model.task_weights(task_id)
    inputs = network_inputs(config, batch, model.wembs)
    outputs = rnn_forward(model.mnet, inputs, weights, batch.lengths)  # [T, B, O_all]
    loss_task = fam.loss(select_head(config, outputs, batch.task_ids, fam.head_dim), batch).mean()
    si_task_only = config.use_si and config.si_task_loss_only and protect_si
    if si_task_only:
        # SI importance from the task loss alone: gradient and the Adam step it would cause.
        loss_task.backward(retain_graph=True)
        main = model.main_weights()
        task_grads = [p.grad.detach().clone() for p in main]
        deltas = si.adam_lookahead(optimizer, main, task_grads)
        si.si_accumulate(state.si_omega, task_grads, deltas)
    terms = regularizers(config, model, fam, state, task_id, weights, rng, batch.size)
    measured: dict[str, float] = {}
    if model.decoder is not None:
        replay_terms, measured = generative_replay_terms(config, model, fam, state, task_id, batch, outputs, rng)
        terms.update(replay_terms)
    total = loss_task + sum(terms.values()) if terms else loss_task
    if not torch.isfinite(total):
        raise NonFiniteLossError(f"non-finite loss on task {task_id}: {float(total)}")
    if si_task_only:
        if terms:
            sum(terms.values()).backward()
    else:
        total.backward()
    clip_gradients(config, params)
    measured.update(tb_logging.step_norms(model, weights))
    if config.use_si and not config.si_task_loss_only and protect_si:
        before = [p.detach().clone() for p in model.main_weights()]
        grads = [p.grad.detach().clone() for p in model.main_weights()]
        optimizer.step()
        si.si_accumulate(state.si_omega, grads, [p.detach() - b for p, b in zip(model.main_weights(), before)])
    else:
        optimizer.step()
    return {"loss_task": loss_task.item(), **{f"loss_{k}": v.item() for k, v in terms.items()}, **measured}


# ----------------------------------------------------------------------------------------------------------
# One task
# ----------------------------------------------------------------------------------------------------------
def padding_is_inert(config, model: Model, fam: Family) -> bool:
    """Whether training batches may drop their trailing padded steps (:func:`trim_padding`): the loss reads only
    unpadded steps (a label at the last step weighted by ``--ts_weighting`` other than ``none``, or PoS tags of
    unpadded tokens), the network's outputs there do not depend on the padding (a causal RNN, or a bidirectional one
    that reverses each sequence within its length) and it backpropagates through all steps (truncated BPTT counts
    its depth from the padded end), and no replay decoder reads the batch's outputs."""
    net = model.mnet
    rnns = list(net.rnns) if isinstance(net, BiRNN) else [net]
    if model.decoder is not None or any(r.bptt_depth != -1 for r in rnns):
        return False
    if fam.kind == "tokens":
        return True
    return fam.kind in ("class", "last_step") and config.ts_weighting != "none" and isinstance(net, SimpleRNN)


def train_task(config, env: RunEnv, model: Model, fam: Family, state: MethodState, task_id: int,
               rng: np.random.RandomState) -> list[dict]:
    """Train task ``task_id`` (all tasks jointly under ``--multitask``) for its iterations; returns the
    measurements logged every ``LOG_EVERY`` steps (with their iteration ``iter``)."""
    params = model.parameters(None if config.multitask else task_id)
    optimizer = adam(config, params)
    n_iter = config.n_iter * (config.num_tasks if config.multitask else 1)
    protect_si = config.use_si and task_id < config.num_tasks - 1
    if config.use_si and state.si_omega is None:
        state.si_omega = [torch.zeros_like(p) for p in model.main_weights()]
        state.si_big_omega = [torch.zeros_like(p) for p in model.main_weights()]
        state.si_start = [p.detach().clone() for p in model.main_weights()]
    tag = "all_tasks" if config.multitask else f"task_{task_id}"
    best = (-math.inf, None)
    curve: list[dict] = []
    trim = padding_is_inert(config, model, fam)
    for it in progress(range(n_iter), desc=f"task {task_id}"):
        batch = (multitask_batch(fam, config.batch_size, rng) if config.multitask
                 else to_batch(fam.tasks[task_id].take("train", config.batch_size), task_id))
        if trim:
            batch = trim_padding(batch)
        try:
            measured = train_step(config, model, fam, state, task_id, batch, optimizer, params, rng, protect_si)
        except NonFiniteLossError as err:
            raise NonFiniteLossError(f"{err} (iterations {max(0, it - LOG_EVERY)}-{it})") from None
        if itstime(it, LOG_EVERY, n_iter):
            for key, value in measured.items():
                env.writer.add_scalar(f"train/{tag}/{key}", value, it)
            curve.append({"iter": it, **measured})
            if model.hnet is not None and state.hnet_targets is not None:  # regulariser split ff / recurrent
                tb_logging.hnet_reg_diagnostics(env.writer, model.hnet, model.mnet, state.hnet_targets, it, tag)
        if not config.multitask and itstime(it, config.val_iter, n_iter) and fam.tasks[task_id].num("val"):
            val_acc, val_loss = evaluate(config, model, fam, task_id, "val")
            env.writer.add_scalar(f"val/{tag}/acc", val_acc, it)
            env.writer.add_scalar(f"val/{tag}/task_loss", val_loss, it)
            env.logger.debug(f"task {task_id} it {it}: loss {measured['loss_task']:.4f}, val acc {val_acc:.2f}%")
            score = -val_loss if fam.kind == "regression" else val_acc  # regression: the lowest loss is best
            if config.use_best_models and score > best[0]:
                # As the original: the first validation only sets the bar (that nearly untrained network is never
                # restored); every later strict improvement is kept, and the last one is restored after the task.
                best = (score, None if best[0] == -math.inf else [p.detach().clone() for p in params])
    if config.use_best_models and best[1] is not None:
        with torch.no_grad():
            for p, b in zip(params, best[1]):
                p.copy_(b)
    return curve


def after_task(config, env: RunEnv, model: Model, fam: Family, state: MethodState, task_id: int,
               rng: np.random.RandomState) -> None:
    """Importances and coresets that later tasks need (nothing after the last task)."""
    if task_id == config.num_tasks - 1:
        return
    task = fam.tasks[task_id]
    if config.use_ewc:
        data = task.splits["train"]
        if config.n_fisher != -1:
            data = data.select(torch.from_numpy(rng.permutation(len(data))[: config.n_fisher]).to(
                data.inputs.device))

        def nll(logits: Tensor, batch: SeqBatch) -> Tensor:
            return fam.fisher_loss(select_head(config, logits, batch.task_ids, fam.head_dim), batch)

        if model.wembs is not None:  # PoS: the network reads word vectors (fixed here, the Fisher is for the RNN)
            with torch.no_grad():
                vectors = model.wembs.embed(data.inputs[..., 0], task_id)  # [N, T, D]
            data = SeqSplit(vectors, data.targets, data.lengths, data.window)
        if config.input_task_identity:  # the Fisher runs the network on the stored inputs: append the one-hot
            onehot = torch.zeros(*data.inputs.shape[:2], config.num_tasks, device=data.inputs.device)
            onehot[..., task_id] = 1
            data = SeqSplit(torch.cat([data.inputs, onehot], -1), data.targets, data.lengths, data.window)
        fixed = model.masks[task_id] if model.masks is not None else []
        new = ewc.fisher_diagonal(model.mnet, model.main_weights(), data, task_id, nll, fixed,
                                  FISHER_MICRO_BATCH, config.tbptt_fisher, forward=rnn_forward)
        state.fisher = online_fisher(new, state.fisher, config.ewc_gamma)
        state.anchors = [p.detach().clone() for p in model.main_weights()]
        tb_logging.log_fisher(env.writer, task_id, state.fisher, model.mnet.param_shapes_meta)
    if config.use_si:
        theta = [p.detach().clone() for p in model.main_weights()]
        state.si_big_omega = si.si_importance_update(state.si_big_omega, state.si_omega, theta, state.si_start)
        state.si_start = theta
        tb_logging.log_omega(env.writer, task_id, state.si_big_omega, model.mnet.param_shapes_meta)
        state.si_omega = [torch.zeros_like(p) for p in theta]
    if config.use_replay and config.coreset_size > 0:
        state.coresets.append(sample_coreset(config.coreset_size, task.num("train"), rng))


def before_task(config, model: Model, fam: Family, state: MethodState, task_id: int) -> None:
    """Regulariser targets and snapshots fixed at the start of a task."""
    hnet = model.protected_hnet
    if hnet is not None and task_id > 0:
        state.hnet_targets = compute_targets(hnet, task_id)
        if config.multi_head and model.hnet is not None and state.head_masks is None:
            device = state.hnet_targets.device
            state.head_masks = torch.stack([output_head_mask(model.mnet, j, config.num_tasks, fam.head_dim, device)
                                            for j in range(config.num_tasks)])
    if config.use_replay and task_id > 0:
        state.teacher = [p.detach().clone() for p in model.main_weights()]
    if model.decoder is not None and task_id > 0:
        if model.dec_hnet is not None:  # the snapshot hypernetwork's decoders of all previous tasks: its targets
            state.dec_snapshot = model.dec_hnet.target_weights(state.hnet_targets)  # [t, *shape] per tensor
        else:
            state.dec_snapshot = [p.detach().clone() for p in model.decoder.internal_params]


@torch.no_grad()
def log_replay_images(config, env: RunEnv, model: Model, fam: Family, task_id: int) -> None:
    """TensorBoard images after task ``task_id``: ``replay/autoencoder_<t>_<t>`` (a test input above its
    reconstruction) and ``replay/replayed_<j>_<t>`` (a sample the decoder now generates for each task j <= t)."""
    bernoulli = fam.kind == "copy"
    batch = to_batch(fam.tasks[task_id].splits["test"].select(torch.arange(1, device=env.device)), task_id)
    mu, _ = gen.latent_units(rnn_forward(model.mnet, network_inputs(config, batch)), config.latent_dim)
    n_onehot = config.num_tasks if gen.decoder_gets_task_input(config) else 0
    recon = gen.decode(model.decoder, mu, batch.task_ids, model.decoder_weights(task_id), n_onehot)
    recon = torch.sigmoid(recon) if bernoulli else recon
    env.writer.add_image(f"replay/autoencoder_{task_id}_{task_id}",
                         gen.sequence_image(batch.inputs[:, 0], recon[:, 0]), task_id)
    for j in range(task_id + 1):
        weights = model.decoder_weights(j)
        if weights is None:
            weights = list(model.decoder.internal_params)
        replay = gen.generate_replay(model.decoder, weights, [0] * j + [1], [fam.tasks[k].max_len for k in
                                                                            range(j + 1)], config, bernoulli)
        env.writer.add_image(f"replay/replayed_{j}_{task_id}", gen.sequence_image(replay.inputs[:, 0]), task_id)


# ----------------------------------------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------------------------------------
def during_and_final(config, scores: np.ndarray, num_trained: int) -> tuple[list[float] | None, list[float]]:
    """Per task the score right after learning it (``scores[j, j]``; None for multitask) and after the last task
    trained (``scores[t, j]``), from a matrix ``scores[t, j]`` of task j's score after learning task t."""
    if config.multitask:
        return None, (scores[0].tolist() if num_trained else [-1.0] * config.num_tasks)
    during = [float(scores[j, j]) for j in range(num_trained)]
    final = [float(scores[num_trained - 1, j]) for j in range(num_trained)] if num_trained else []
    return during, final


def make_summary(config, acc: np.ndarray, num_trained: int, model: Model, finished: bool,
                 fscore: np.ndarray | None = None) -> dict:
    """``performance_overview.txt`` content (spec §5.1) from the accuracy matrix ``acc[t, j]`` (student-teacher: the
    test-loss matrix, reported under ``*_loss`` keys; PoS: and the weighted F-score matrix ``fscore[t, j]``)."""
    during, final = during_and_final(config, acc, num_trained)
    summary = {
        "mean_final_accuracy": float(np.mean(final)) if final else -1.0,
        "std_final_accuracy": float(np.std(final)) if final else -1.0,
        "mean_during_accuracy": float(np.mean(during)) if during else -1.0,
        "std_during_accuracy": float(np.std(during)) if during else -1.0,
        "min_final_accuracy": float(np.min(final)) if final else -1.0,
        "min_during_accuracy": float(np.min(during)) if during else -1.0,
        "final_accuracy": final or [-1.0],
        "during_accuracy": during or [-1.0],
        "compression_ratio": (compression_ratio(model.protected_hnet) if model.protected_hnet is not None
                              else float("nan")),
        "rnn_arch": str(config.rnn_arch),
        "hnet_arch": str(config.hnet_arch),  # the OLD flag, as the original reports it (even for new hnets)
        "num_train_iter": int(config.n_iter),
        "finished": int(finished),
    }
    if fscore is not None:
        f_during, f_final = during_and_final(config, fscore, num_trained)
        summary.update({
            "mean_final_fscore": float(np.mean(f_final)) if f_final else -1.0,
            "mean_during_fscore": float(np.mean(f_during)) if f_during else -1.0,
            "final_fscore": f_final or [-1.0],
            "during_fscore": f_during or [-1.0],
        })
    if config.parser_mode == "student_teacher":
        summary = {k.replace("accuracy", "loss"): v for k, v in summary.items()}
    return {k: summary[k] for k in summary_keys(config.parser_mode, config.multitask)}


def during_criteria(config, num_tasks: int) -> list[float]:
    """``--during_acc_criterion`` per task (one value applies to all)."""
    values = [float(v) for v in str(config.during_acc_criterion).split(",")]
    return values * num_tasks if len(values) == 1 else values + [-1.0] * (num_tasks - len(values))


# ----------------------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------------------
def run(config: argparse.Namespace, script_dir: str | None = None, argv: list[str] | None = None) -> dict:
    """Train and evaluate all tasks of ``config.parser_mode``; returns the final summary dict."""
    check_supported(config)
    env = setup_environment(config, script_dir, argv)
    try:
        return _run(config, env)
    finally:
        env.close()


def _run(config: argparse.Namespace, env: RunEnv) -> dict:
    # --- data --------------------------------------------------------------------------------------------
    try:
        fam = build_family(config, env.device)
    except DatasetError as err:
        raise ConfigError(str(err)) from None
    if fam.words is not None:  # PoS: config.json records which data and word embeddings were read
        config.wemb_source = fam.words.source
        write_config(config, env.out_dir)
        env.logger.info(f"PoS languages {', '.join(fam.words.languages)}: {fam.words.source}")
    rng = np.random.RandomState(config.random_seed)  # batch mixing, replay choices, regulariser subsets
    n_tasks = config.num_tasks
    env.logger.info(f"{fam.name}: {n_tasks} tasks, {fam.tasks[0].num('train')} training sequences of length "
                    f"{fam.tasks[0].max_len} in task 0")

    # --- networks ----------------------------------------------------------------------------------------
    model = build_model(config, fam, env.device)
    hnet = model.protected_hnet
    env.logger.info(f"main network: {model.mnet.num_params} weights"
                    + (f"; replay decoder: {model.decoder.num_params} weights" if model.decoder is not None else "")
                    + (f"; hypernetwork: {hnet.num_params} parameters (compression ratio "
                       f"{compression_ratio(hnet):.3f})" if hnet is not None else ""))
    state = MethodState()
    acc = np.full((n_tasks, n_tasks), np.nan)
    fscore = np.full((n_tasks, n_tasks), np.nan) if fam.confusion is not None else None  # PoS
    regression = fam.kind == "regression"  # student-teacher: scored by the test loss
    criteria = [-math.inf] * n_tasks if regression else during_criteria(config, n_tasks)
    losses = np.full((n_tasks, n_tasks), np.nan)
    curves: list[dict] = []
    snapshots: dict = {}
    summary: dict = {}

    # --- resume after the last finished task, if any ------------------------------------------------------
    rounds, start = (1 if config.multitask else n_tasks), 0
    resumed = resume(env.out_dir, rounds, model, state, fam.tasks, rng, env.device)
    if resumed is not None:
        start, scores = resumed
        acc = scores["acc"]
        fscore = scores.get("fscore", fscore)
        losses = scores.get("loss", losses)
        curves = run_outputs.read_train_loss(env.out_dir)[:start]
        env.logger.info(f"Resuming after task {start} from {env.out_dir / 'checkpoints'}")
    perf = losses if regression else acc  # the matrix the summary reports (student-teacher: the test loss)

    # --- tasks -------------------------------------------------------------------------------------------
    for t in range(start, rounds):
        before_task(config, model, fam, state, t)
        curves.append(run_outputs.train_loss_curves(train_task(config, env, model, fam, state, t, rng)))
        after_task(config, env, model, fam, state, t, rng)
        tb_logging.log_after_task(env.writer, model, state, t, snapshots)
        if model.decoder is not None:
            log_replay_images(config, env, model, fam, t)
        seen = range(n_tasks) if config.multitask else range(t + 1)
        for j in seen:
            confusion = None if fscore is None else torch.zeros(fam.head_dim, fam.head_dim, dtype=torch.long)
            acc[t, j], losses[t, j] = evaluate(config, model, fam, j, confusion=confusion)
            env.writer.add_scalar(f"test/task_{j}/acc", acc[t, j], t)
            env.writer.add_scalar(f"test/task_{j}/loss", losses[t, j], t)
            if fscore is not None:
                fscore[t, j] = weighted_fscore(confusion)
                env.writer.add_scalar(f"test/task_{j}/fscore", fscore[t, j], t)
        env.logger.info(f"after task {t}: test {'losses' if regression else 'accuracies'} "
                        + ", ".join(f"{perf[t, j]:.4g}" for j in seen)
                        + ("" if fscore is None else "; F-scores " + ", ".join(f"{fscore[t, j]:.4f}" for j in seen)))
        summary = make_summary(config, perf, t + 1, model, finished=False, fscore=fscore)
        write_summary(env.out_dir, summary, list_sep=",")
        run_outputs.write_run_outputs(env.out_dir, perf[:t + 1], curves, summary, regression, config.multitask,
                                      finished=False)
        if config.store_during_models:
            save_models(env.out_dir, f"models_task_{t}", model, {"during_score": float(perf[t, t]), "task": t},
                        state)
        if not config.multitask and acc[t, t] < criteria[t]:
            env.logger.info(f"during accuracy {acc[t, t]:.2f}% of task {t} is below --during_acc_criterion "
                            f"{criteria[t]}: stopping")
            return summary
        if config.train_from_scratch and t < n_tasks - 1:
            model = build_model(config, fam, env.device)
            state = MethodState()
        scores = {"acc": acc, "loss": losses} if fscore is None else {"acc": acc, "loss": losses, "fscore": fscore}
        save_after_task(env.out_dir, t, model, state, fam.tasks, rng, scores)  # what task t + 1 starts from

    # --- final report ------------------------------------------------------------------------------------
    summary = make_summary(config, perf, rounds, model, finished=True, fscore=fscore)
    write_summary(env.out_dir, summary, list_sep=",")
    run_outputs.write_run_outputs(env.out_dir, perf[:rounds], curves, summary, regression, config.multitask,
                                  finished=True)
    if fscore is not None:
        np.save(env.out_dir / "test_fscore.npy", fscore[:rounds])
    if config.store_final_models:
        save_models(env.out_dir, "final_models", model, {k: v for k, v in summary.items() if k.startswith("mean_")},
                    state)
    if config.store_activations:
        store_activations(env.out_dir, config, model, fam, range(n_tasks))
    var = "loss" if regression else "accuracy"
    if f"mean_during_{var}" in summary:
        env.logger.info(f"during {var}: {summary[f'during_{var}']} (mean {summary[f'mean_during_{var}']:.4g})")
    env.logger.info(f"final {var}: {summary[f'final_{var}']} (mean {summary[f'mean_final_{var}']:.4g})")
    return summary

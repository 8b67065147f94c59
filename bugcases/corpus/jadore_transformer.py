"""jadore801120/attention-is-all-you-need-pytorch train.py: `train_epoch()` (zero_grad, forward,
`cal_performance` with label smoothing summed over non-pad tokens, backward,
`ScheduledOptim.step_and_update_lr()` with the inverse-square-root warmup of transformer/Optim.py),
`eval_epoch()` under `torch.no_grad()` with `model.eval()`, and `train()`'s epoch loop, on the
transformer/ package's encoder-decoder `Transformer` (Models.py, Layers.py, SubLayers.py,
Modules.py), with the README's flags `-embs_share_weight -proj_share_weight -label_smoothing`.

Read at commit 132907dd272e2cc92e3c10e6c4e783a87ff8893d of https://github.com/jadore801120/attention-is-all-you-need-pytorch.

Changed: data, width and epochs only. The torchtext Multi30k pickle and `BucketIterator`
(time-major (T, N) `batch.src`/`batch.trg` padded with `<blank>`, bucketed and shuffled every
epoch for training) become 12 training and 4 validation pairs of random token sequences (3 to 7
tokens between `<s>` and `</s>`, shared vocabulary of 20 with torchtext's indices: `<unk>` 0,
`<blank>` 1, `<s>` 2, `</s>` 3), batched 4 at a time (batch size 2048 -> 4), padded and
time-major, training order reshuffled each epoch; 2 epochs instead of 10. d_model 512 -> 16,
d_inner_hid 2048 -> 32, d_k = d_v 64 -> 8, n_head 8 -> 2, n_layers 6 -> 1 (warmup 4000 and
lr_mul 2.0 are the defaults). tqdm, printing, log files, tensorboard and checkpoints are left
out. The model code, `cal_performance`/`cal_loss`, `patch_src`/`patch_trg`, `ScheduledOptim`
and the loop bodies are the script's.

Watch options: `watched(transformer, optimizer._optimizer)` (the Adam inside `ScheduledOptim`,
which sets its learning rate by hand, so no scheduler; the loss is a plain function, so no
criterion).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torch.optim as optim

SOURCE = {"repo": "jadore801120/attention-is-all-you-need-pytorch", "path": "train.py",
          "commit": "132907dd272e2cc92e3c10e6c4e783a87ff8893d"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of train_epoch()
    "eval-without-eval-mode": ("train-mode-in-eval", 3),  # model.eval() left out of eval_epoch()
}

PAD, BOS, EOS = 1, 2, 3


from bugcases.corpus._jadore_transformer_model import (  # the upstream modules this script imports, quoted in _jadore_transformer_model.py
    Transformer,
)

# --- transformer/Optim.py
class ScheduledOptim():
    '''A simple wrapper class for learning rate scheduling'''

    def __init__(self, optimizer, lr_mul, d_model, n_warmup_steps):
        self._optimizer = optimizer
        self.lr_mul = lr_mul
        self.d_model = d_model
        self.n_warmup_steps = n_warmup_steps
        self.n_steps = 0


    def step_and_update_lr(self):
        "Step with the inner optimizer"
        self._update_learning_rate()
        self._optimizer.step()


    def zero_grad(self):
        "Zero out the gradients with the inner optimizer"
        self._optimizer.zero_grad()


    def _get_lr_scale(self):
        d_model = self.d_model
        n_steps, n_warmup_steps = self.n_steps, self.n_warmup_steps
        return (d_model ** -0.5) * min(n_steps ** (-0.5), n_steps * n_warmup_steps ** (-1.5))


    def _update_learning_rate(self):
        ''' Learning rate scheduling per step '''

        self.n_steps += 1
        lr = self.lr_mul * self._get_lr_scale()

        for param_group in self._optimizer.param_groups:
            param_group['lr'] = lr


# --- train.py
def cal_performance(pred, gold, trg_pad_idx, smoothing=False):
    ''' Apply label smoothing if needed '''

    loss = cal_loss(pred, gold, trg_pad_idx, smoothing=smoothing)

    pred = pred.max(1)[1]
    gold = gold.contiguous().view(-1)
    non_pad_mask = gold.ne(trg_pad_idx)
    n_correct = pred.eq(gold).masked_select(non_pad_mask).sum().item()
    n_word = non_pad_mask.sum().item()

    return loss, n_correct, n_word


def cal_loss(pred, gold, trg_pad_idx, smoothing=False):
    ''' Calculate cross entropy loss, apply label smoothing if needed. '''

    gold = gold.contiguous().view(-1)

    if smoothing:
        eps = 0.1
        n_class = pred.size(1)

        one_hot = torch.zeros_like(pred).scatter(1, gold.view(-1, 1), 1)
        one_hot = one_hot * (1 - eps) + (1 - one_hot) * eps / (n_class - 1)
        log_prb = F.log_softmax(pred, dim=1)

        non_pad_mask = gold.ne(trg_pad_idx)
        loss = -(one_hot * log_prb).sum(dim=1)
        loss = loss.masked_select(non_pad_mask).sum()  # average later
    else:
        loss = F.cross_entropy(pred, gold, ignore_index=trg_pad_idx, reduction='sum')
    return loss


def patch_src(src, pad_idx):
    src = src.transpose(0, 1)
    return src


def patch_trg(trg, pad_idx):
    trg = trg.transpose(0, 1)
    trg, gold = trg[:, :-1], trg[:, 1:].contiguous().view(-1)
    return trg, gold


class _Batch:
    def __init__(self, src, trg):
        self.src, self.trg = src, trg


class _Iterator:
    """Stands in for torchtext's BucketIterator: time-major (T, N) padded batches; reshuffled
    every epoch when train=True."""

    def __init__(self, pairs, batch_size, train):
        self.pairs, self.batch_size, self.train = pairs, batch_size, train

    @staticmethod
    def _pad(seqs):
        length = max(len(s) for s in seqs)
        out = torch.full((length, len(seqs)), PAD, dtype=torch.long)
        for j, s in enumerate(seqs):
            out[:len(s), j] = torch.tensor(s)
        return out

    def __iter__(self):
        order = torch.randperm(len(self.pairs)).tolist() if self.train else list(range(len(self.pairs)))
        for i in range(0, len(order), self.batch_size):
            chunk = [self.pairs[k] for k in order[i:i + self.batch_size]]
            yield _Batch(self._pad([s for s, _ in chunk]), self._pad([t for _, t in chunk]))


def _pairs(n, vocab):
    def seq():
        length = int(torch.randint(3, 8, (1,)))
        return [BOS] + torch.randint(4, vocab, (length,)).tolist() + [EOS]
    return [(seq(), seq()) for _ in range(n)]


class _Opt:
    pass


def run(watched, bug=None):
    torch.manual_seed(0)
    device = torch.device('cpu')
    opt = _Opt()
    opt.epoch, opt.batch_size = 2, 4
    opt.d_model, opt.d_inner_hid, opt.d_k, opt.d_v, opt.n_head, opt.n_layers = 16, 32, 8, 8, 2, 1
    opt.n_warmup_steps, opt.lr_mul, opt.dropout = 4000, 2.0, 0.1
    opt.embs_share_weight, opt.proj_share_weight, opt.scale_emb_or_prj = True, True, 'prj'
    opt.label_smoothing = True
    opt.d_word_vec = opt.d_model
    opt.src_pad_idx = opt.trg_pad_idx = PAD
    opt.src_vocab_size = opt.trg_vocab_size = 20

    training_data = _Iterator(_pairs(12, opt.src_vocab_size), opt.batch_size, train=True)
    validation_data = _Iterator(_pairs(4, opt.src_vocab_size), opt.batch_size, train=False)

    transformer = Transformer(
        opt.src_vocab_size,
        opt.trg_vocab_size,
        src_pad_idx=opt.src_pad_idx,
        trg_pad_idx=opt.trg_pad_idx,
        trg_emb_prj_weight_sharing=opt.proj_share_weight,
        emb_src_trg_weight_sharing=opt.embs_share_weight,
        d_k=opt.d_k,
        d_v=opt.d_v,
        d_model=opt.d_model,
        d_word_vec=opt.d_word_vec,
        d_inner=opt.d_inner_hid,
        n_layers=opt.n_layers,
        n_head=opt.n_head,
        dropout=opt.dropout,
        scale_emb_or_prj=opt.scale_emb_or_prj).to(device)

    optimizer = ScheduledOptim(
        optim.Adam(transformer.parameters(), betas=(0.9, 0.98), eps=1e-09),
        opt.lr_mul, opt.d_model, opt.n_warmup_steps)
    losses = []

    def train_epoch(model, training_data, optimizer, opt, device, smoothing):
        ''' Epoch operation in training phase'''

        model.train()
        total_loss, n_word_total, n_word_correct = 0, 0, 0

        for batch in training_data:

            # prepare data
            src_seq = patch_src(batch.src, opt.src_pad_idx).to(device)
            trg_seq, gold = map(lambda x: x.to(device), patch_trg(batch.trg, opt.trg_pad_idx))

            # forward
            if bug != "missing-zero-grad":
                optimizer.zero_grad()
            pred = model(src_seq, trg_seq)

            # backward and update parameters
            loss, n_correct, n_word = cal_performance(
                pred, gold, opt.trg_pad_idx, smoothing=smoothing)
            loss.backward()
            optimizer.step_and_update_lr()

            # note keeping
            n_word_total += n_word
            n_word_correct += n_correct
            total_loss += loss.item()
            losses.append(loss.item())

        loss_per_word = total_loss/n_word_total
        accuracy = n_word_correct/n_word_total
        return loss_per_word, accuracy

    def eval_epoch(model, validation_data, device, opt):
        ''' Epoch operation in evaluation phase '''

        if bug != "eval-without-eval-mode":
            model.eval()
        total_loss, n_word_total, n_word_correct = 0, 0, 0

        with torch.no_grad():
            for batch in validation_data:

                # prepare data
                src_seq = patch_src(batch.src, opt.src_pad_idx).to(device)
                trg_seq, gold = map(lambda x: x.to(device), patch_trg(batch.trg, opt.trg_pad_idx))

                # forward
                pred = model(src_seq, trg_seq)
                loss, n_correct, n_word = cal_performance(
                    pred, gold, opt.trg_pad_idx, smoothing=False)

                # note keeping
                n_word_total += n_word
                n_word_correct += n_correct
                total_loss += loss.item()

        loss_per_word = total_loss/n_word_total
        accuracy = n_word_correct/n_word_total
        return loss_per_word, accuracy

    with watched(transformer, optimizer._optimizer):
        valid_losses = []
        for epoch_i in range(opt.epoch):
            train_loss, train_accu = train_epoch(
                transformer, training_data, optimizer, opt, device, smoothing=opt.label_smoothing)
            train_ppl = math.exp(min(train_loss, 100))
            # Current learning rate
            lr = optimizer._optimizer.param_groups[0]['lr']

            valid_loss, valid_accu = eval_epoch(transformer, validation_data, device, opt)
            valid_ppl = math.exp(min(valid_loss, 100))

            valid_losses += [valid_loss]
    return losses

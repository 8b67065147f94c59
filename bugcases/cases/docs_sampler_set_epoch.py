"""`DistributedSampler.set_epoch(epoch)` left out: every epoch sees the same order.

The sampler shuffles with a generator seeded by `seed + epoch`; the docs: "calling the
set_epoch() method at the beginning of each epoch before creating the DataLoader iterator is
necessary to make shuffling work properly across multiple epochs. Otherwise, the same
ordering will be always used." Training runs, just with less randomness than intended.
"""


from bugcases.config import RunConfig
from bugcases.distributed import distributed_variant, rank_setup
from bugcases.loop import epochs, limited, plain_epoch, watched_run
from bugcases.registry import BugCase, Claim, Expect
from bugcases.symptoms import Panel


def buggy_epoch_start(sampler, epoch):
    pass


def fixed_epoch_start(sampler, epoch):
    sampler.set_epoch(epoch)


def train_rank(rank: int, world_size: int, config: RunConfig, epoch_start):
    r = rank_setup(rank, world_size, config, ddp=True)
    model, criterion, optimizer, device, sampler = r.model, r.criterion, r.optimizer, r.device, r.sampler
    with watched_run(config, model, optimizer, criterion=criterion) as result:
        orders = result.extra.setdefault("epoch_orders", [])
        for epoch in epochs(config):
            epoch_start(sampler, epoch)
            orders.append(list(sampler))  # the order the loader is about to use
            result.extra.setdefault("first_sample_per_epoch", []).append(orders[-1][0])
            batches = limited(r.loader, config.max_steps)
            result.train_loss.append(plain_epoch(model, optimizer, criterion, batches, device))
    return result



def _same_order_every_epoch(results: dict) -> None:
    for variant, repeats in (("buggy", True), ("fixed", False)):
        for rank, extra in enumerate(results[variant].extra["ranks"]):
            orders = extra["epoch_orders"]
            same = all(order == orders[0] for order in orders[1:])
            assert same == repeats, (
                f"{variant} rank {rank}: expected {'the same' if repeats else 'a new'} order every epoch, found "
                f"first items per epoch {[order[:5] for order in orders]}")


CASE = BugCase(
    id="docs-sampler-set-epoch",
    domain="distributed",
    added="2026-11-23",
    documented="the same order every epoch",
    title="DistributedSampler.set_epoch() not called: the same order every epoch",
    source="https://pytorch.org/docs/stable/data.html#torch.utils.data.distributed.DistributedSampler",
    root_cause="The epoch loop never calls sampler.set_epoch(epoch), so the shuffle seed never changes.",
    variants=(
        distributed_variant("buggy", train_rank, buggy_epoch_start, "no sampler.set_epoch(epoch)"),
        distributed_variant("fixed", train_rank, fixed_epoch_start, "sampler.set_epoch(epoch) at the top of each epoch"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=3, batch_size=16, train_samples=128, world_size=2),
        "gpu": RunConfig(lr=0.1, epochs=5, batch_size=64, train_samples=8192, world_size=2, device="cuda",
                         tier="gpu"),
    },
    expects=(Expect("same-order-every-epoch", fires_on=("buggy",), silent_on=("fixed",), at_step=3, steps=2, epochs=2),),
    claims=(Claim("buggy repeats one order every epoch, fixed reshuffles", ("buggy", "fixed"),
                  _same_order_every_epoch, measures=("extra.ranks",)),),
    distributed=True,
    panels=(Panel("extra.ranks.0.first_sample_per_epoch", "index of the first sample, rank 0"),),
)

"""Data-parallel training on several processes or machines, through RecBole's own DDP path.

``run.py --nproc=N`` starts ``N`` processes on this machine (``torch.multiprocessing``),
each a rank of one ``torch.distributed`` group: RecBole's dataloaders give each rank a
shard of every epoch (``DistributedSampler``), its trainer all-reduces the gradients
(``DistributedDataParallel``) and averages the evaluation metrics over ranks, and rank 0
writes the checkpoint and the log. NCCL on GPUs, gloo on CPUs (``recbole_ext.compat``).
Several machines: the same command on each, with ``--world_size`` (all ranks),
``--group_offset`` (ranks started on earlier machines), ``--ip`` and ``--port`` of the
machine that runs rank 0, as RecBole's ``run_recbole.py`` takes them.

The engine is PyTorch's; nothing here synchronises anything itself.
"""

import hashlib
import os
import socket
import sys

import torch
from torch.multiprocessing.spawn import ProcessException

from recbole.utils import ModelType, get_model


def supports_data_parallel(model):
    """False for models fitted without gradient steps (WALS, EASE, ItemKNN, ...).

    Their fit is not an average of per-shard gradients: each rank would fit
    its own model on its own shard.
    """
    model_class = get_model(model)
    return model_class.type != ModelType.TRADITIONAL and getattr(model_class, "data_parallel", True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return str(probe.getsockname()[1])


def parameter_digest(model):
    """SHA-256 of every parameter's bytes: equal on all ranks iff their weights are equal."""
    digest = hashlib.sha256()
    for name, parameter in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(parameter.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _report_error(queue, rank, error):
    try:
        queue.put({"rank": rank, "error": error})
    except Exception:  # an exception that does not pickle travels as text
        queue.put({"rank": rank, "error": RuntimeError(f"{type(error).__name__}: {error}")})


def _rank_main(rank, model, dataset, config_files, overrides, queue):
    from recbole_ext.runner import run

    trained = {}
    try:
        result = run(
            model,
            dataset,
            config_files,
            {**overrides, "local_rank": rank},
            after_fit=lambda model_object: trained.update(digest=parameter_digest(model_object)),
        )
    except Exception as error:
        _report_error(queue, rank, error)
        raise
    summary = {"rank": rank, "parameter_digest": trained["digest"]}
    if rank == 0:
        summary.update(
            best_valid_score=float(result["best_valid_score"]),
            best_valid_result=dict(result["best_valid_result"] or {}),
            test_result=dict(result["test_result"]),
        )
    queue.put(summary)
    torch.distributed.barrier()  # no rank tears the group down while another still talks to it
    torch.distributed.destroy_process_group()
    _exit_rank()


def _exit_rank():
    # gloo's and ATen's worker threads can still be joinable when the interpreter tears down its
    # C++ statics, which aborts the process ("terminate called without an active exception",
    # SIGABRT) after its work is done; the result is already on the queue, so leave at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_data_parallel(model, dataset, config_files=None, overrides=None, nproc=2, world_size=-1,
                      ip="localhost", port=None, group_offset=0):
    """Train ``model`` on ``nproc`` local ranks of a ``world_size``-rank group; test as usual.

    Returns rank 0's ``best_valid_score``, ``best_valid_result`` and
    ``test_result`` (metrics averaged over all ranks' test shards, as RecBole
    does) plus ``parameter_digests``: a digest of each local rank's weights at
    the end of training (before the best checkpoint is reloaded), all equal
    when the ranks stayed in sync.
    """
    if not supports_data_parallel(model):
        raise ValueError(f"{model} is not trained by gradient steps; data-parallel training (nproc > 1) does not apply")
    world_size = nproc if world_size == -1 else world_size
    overrides = dict(overrides or {})
    overrides.update(
        world_size=world_size, nproc=nproc, ip=ip, port=str(port or free_port()), offset=group_offset
    )
    queue = torch.multiprocessing.get_context("spawn").SimpleQueue()
    try:
        torch.multiprocessing.spawn(
            _rank_main, args=(model, dataset, list(config_files or []), overrides, queue), nprocs=nproc, join=True
        )
    except ProcessException:
        # the rank's own exception (a bad field, a NaN loss), not spawn's traceback dump
        while not queue.empty():
            report = queue.get()
            if "error" in report:
                raise report["error"] from None
        raise
    summaries = sorted((queue.get() for _ in range(nproc)), key=lambda s: s["rank"])
    result = {k: v for k, v in summaries[0].items() if k not in ("rank", "parameter_digest")}
    result["parameter_digests"] = [s["parameter_digest"] for s in summaries]
    return result

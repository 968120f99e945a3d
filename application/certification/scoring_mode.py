"""How a run holds its models when its config leaves `eval.sequential` unset (docs/reference/sequential.md#the-default):
one at a time wherever that was tested, since the evidence is the same bit for bit and the peak memory about half
the weights' lower; both together otherwise. The choice is made before the run is recorded and recorded with it
(`eval.sequential: true` in the run config), so a resumed run and the re-execution audit take it again, and a
certificate states it. A config that sets `eval.sequential` (`true`: `--sequential`, `false`: `--no-sequential`)
is run as it says."""

from __future__ import annotations

import dataclasses

from invarlock.domain.errors import InvarlockError
from invarlock.ports.loader import ModelLoader, SequentialSupport

from ..config_sequential import both_held_by_config, with_sequential
from ..services import Services
from .input_steps import load_options
from .run_request import CertifyRequest


def with_scoring_mode(req: CertifyRequest, svc: Services) -> CertifyRequest:
    """`req` with `eval.sequential: true` when its config leaves it unset and nothing needs both models at once
    (both_held_because); otherwise `req` as given."""
    if req.config.eval.sequential is not None or both_held_because(req, svc.loader) is not None:
        return req
    return dataclasses.replace(req, config=with_sequential(req.config, True))


def both_held_because(req: CertifyRequest, loader: ModelLoader) -> str | None:
    """Why a run of `req` holds both models together, or None: the config asks for something only both models
    give (config_sequential), or the loader does not tell, without loading weights, that each model may be held
    alone (ports.loader.SequentialSupport: its adapter, device, LM head, the windows' length)."""
    cfg = req.config
    by_config = both_held_by_config(cfg)
    if by_config is not None:
        return by_config[0]
    if not isinstance(loader, SequentialSupport):
        return "the model loader does not tell whether a model may be held alone"
    try:
        return _loader_obstacle(req, loader, stated=False)
    except InvarlockError as exc:  # a reference the run's input checks then refuse, with their own error
        return exc.message


def held_alone_refusal(req: CertifyRequest, loader: ModelLoader) -> str | None:
    """Why a run of `req`, whose config sets `eval.sequential: true`, would stop once its baseline is loaded: a model
    whose side of KL and top-1 agreement cannot be kept (ports.loader.SequentialSupport, `stated`); None when the
    config does not set it, the loader does not tell, or nothing stops it. Raises the loader's UsageErrors."""
    if not req.config.eval.sequential or not isinstance(loader, SequentialSupport):
        return None
    return _loader_obstacle(req, loader, stated=True)


def _loader_obstacle(req: CertifyRequest, loader: SequentialSupport, *, stated: bool) -> str | None:
    cfg = req.config
    tokens = cfg.dataset.seq_len if cfg.eval.measures_pairs else None
    for model in (cfg.model, *((req.subject,) if req.subject is not None else ())):
        options = load_options(model, cfg.eval.batch_size)
        why = loader.sequential_obstacle(model.id, options, window_tokens=tokens, stated=stated)
        if why is not None:
            return f"{model.id}: {why}"
    return None

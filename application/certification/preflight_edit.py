"""The preflight's checks of the edit: one this installation has, a plan it accepts, and the weights the plan names
among the model's, all before any weights load."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invarlock.domain import diagnostics as d
from invarlock.domain.errors import UsageError
from invarlock.ports.edits import PlanCheck, WeightShapesPlanCheck, WeightsPlanCheck
from invarlock.ports.loader import MatrixNames, MatrixShapes

if TYPE_CHECKING:
    from .preflight import Preflight


def check_edit(pf: Preflight) -> None:
    """Something to certify (a subject or an edit, E201), an edit this installation has and, when the edit can
    check a plan on its own (PlanCheck), a plan it accepts (E204): found before any model loads."""
    req = pf.req
    if req.subject is None and req.config.edit is None:
        raise UsageError("E201", "nothing to certify: no subject model and no edit", "pass --subject or edit:")
    if req.config.edit is not None:
        names = list(pf.edit_names())
        if req.config.edit.name not in names:
            raise UsageError("E204", f"unknown edit '{req.config.edit.name}'", f"available: {', '.join(names)}")
        edit = pf.edit_of(req.config.edit.name) if pf.edit_of is not None else None
        if isinstance(edit, PlanCheck):
            edit.check_plan(req.config.edit.plan)


def check_edit_weights(pf: Preflight) -> None:
    """The weights the edit's plan names are the edited model's 2-D parameters (E204), when the edit checks a plan
    against weight names (WeightsPlanCheck) and the model's loader tells them without the weights (MatrixNames),
    and the plan fits their shapes where the edit checks that too (WeightShapesPlanCheck, MatrixShapes: e.g.
    `remove_top_singular`'s k below the weight's smaller side). Either otherwise failed when the edit applied: after
    the baseline's load, and in a run holding one model at a time, after the baseline's whole pass."""
    edit = pf.req.config.edit
    checker = pf.edit_of(edit.name) if edit is not None and pf.edit_of is not None else None
    if edit is None or not isinstance(checker, WeightsPlanCheck) or not isinstance(pf.loader, MatrixNames):
        return
    role, model = ("subject", pf.req.subject) if pf.req.subject is not None else ("baseline", pf.req.config.model)
    names = pf.loader.matrix_names(model.id, adapter=model.adapter)
    if names is None:
        return
    checker.check_plan_weights(edit.plan, names)
    shapes = pf.loader.matrix_shapes(model.id, adapter=model.adapter) if isinstance(pf.loader, MatrixShapes) else None
    if shapes is not None and isinstance(checker, WeightShapesPlanCheck):
        checker.check_plan_shapes(edit.plan, shapes)
    message = f"the {edit.name} plan names 2-D parameters of the {role} {model.id}"
    pf.findings.append(d.note("weights", d.D_EDIT_WEIGHTS, message))

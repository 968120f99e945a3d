"""The plain-text table certify_overhead.py prints from its summary (the `--json` line is the summary itself)."""

from __future__ import annotations

from typing import Any

from step_times import NESTED


def render(s: dict[str, Any]) -> str:
    m = s["machine"]
    lines = [
        f"config {s['config']}  profile {s['profile']}  run {s['run_id']}  verdict {s['verdict']}",
        f"machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), torch {m['torch']}, "
        f"{m['torch_threads']} threads, device {m['device']}"
        + (f" ({m['gpu']})" if "gpu" in m else "")
        + f", 1-min load average {m['loadavg_1m_start_end'][0]} at start, {m['loadavg_1m_start_end'][1]} at end",
        "windows scored: "
        + ", ".join(f"{k} {v}" for k, v in s["windows_scored"].items())
        + f"; {s['forward_passes']} forward passes of <= {s['batch_size']} windows",
        "",
        f"{'certify wall (certify_edit -> certificate written)':<58} {s['certify_wall_s']:>9.3f} s",
        f"{'forward floor (bare forward passes, both models)':<58} {s['forward_floor_s']:>9.3f} s"
        + f"   ({s['floor_timing']})",
        *(
            [
                f"{'  minor page faults during it':<58} {f:>9d}     ({f // s['forward_passes']} per pass: "
                "its whole-batch logits are new memory)"
            ]
            if (f := s.get("forward_floor_minor_faults")) is not None
            else []
        ),
        *(
            [
                f"{'forward floor, logits into reused memory (alternating)':<58} {r:>9.3f} s"
                f"   ({s['forward_floor_reused_logits_minor_faults']} minor page faults)",
                f"{'certify_wall / that floor':<58} {s['ratio_reused_logits']:>9.4f}",
            ]
            if (r := s.get("forward_floor_reused_logits_s")) is not None
            else []
        ),
        f"{'load + edit (baseline load, subject load, quant_rtn)':<58} {s['load_and_edit_s']:>9.3f} s",
        f"{'services build / lazy imports (excluded)':<58} {s['services_s']:>9.3f} s",
        f"{'certify_wall / forward_floor':<58} {s['ratio']:>9.4f}   (target <= {s['target_ratio']})",
        f"{'(certify_wall - load_and_edit) / forward_floor':<58} {s['ratio_without_load_edit']:>9.4f}",
        f"{'scoring step / forward_floor':<58} {s['scoring_over_floor']:>9.4f}",
        f"{'passes (scoring, baseline pass less its guard work) / floor':<58} {s['passes_over_floor']:>9.4f}",
        *(
            [
                f"{'  per chunk (certify passes / floor right after): median':<58} {c['median']:>9.4f}   "
                f"(quartiles {c['q1']}, {c['q3']}; {c['chunks']} chunks)"
            ]
            if (c := s.get("chunk_scoring_over_floor"))
            else []
        ),
        f"{'guards / certify_wall':<58} {s['guards_over_certify']:>9.4f}   (target <= 0.05)",
    ]
    if "ratio_bracketed" in s:
        lines += [
            f"{'certify wall, second run (after the floor)':<58} {s['certify_wall_second_s']:>9.3f} s",
            f"{'mean certify wall / forward floor (bracketed)':<58} {s['ratio_bracketed']:>9.4f}   (target <= 1.1)",
        ]
    lines += [
        "",
        "certify steps (seconds inside each, in the certify run; the forward floor per role):",
    ]
    lines += [
        f"  {('  of which ' if step in NESTED else '') + step:<56} {sec:>9.3f} s" for step, sec in s["steps_s"].items()
    ]
    lines += [f"  {'other (events, hashing, reductions, certificate file)':<56} {s['steps_other_s']:>9.3f} s"]
    lines += [f"  {'forward floor, ' + role:<56} {sec:>9.3f} s" for role, sec in s["forward_floor_by_role_s"].items()]
    lines += ["", "certify timeline (seconds before each event, from recorded_at):"]
    lines += [f"  {step:<56} {sec:>9.3f} s" for step, sec in s["timeline_s"].items()]
    return "\n".join(lines)

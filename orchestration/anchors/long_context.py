"""Long-context anchors of LoL-PIM v3 / PIMphony (docs/anchors.md section 2): the xPU+PIM ratios over
NeuPIMs, the 1M-token ratios and CENT's MAC utilisation at 1M. Computed by the long-context study
(orchestration/llm/long_context.py, cases and protocol in hardware/systems/presets/
long_context_study.toml); nothing is fitted to these figures. The paper's own setups (request
counts, output lengths, baseline shapes) are not public, so tolerances are wide (30%) and rows
whose miss is understood carry the cause.
"""
from __future__ import annotations

from dataclasses import replace

from lolpim.orchestration.llm.long_context import run_study
from lolpim.orchestration.validation import AnchorCheck, ErrorKind, RowKind

SOURCE = "LoL-PIM v3 / PIMphony (arXiv 2412.20166v3)"
# Each ratio is checked against the baseline as published (BASELINE_ENDS "published": CENT head-first
# with static KV; NeuPIMs request-per-channel with on-demand KV on its HBM2 memory), the baseline the
# paper names; the note gives the whole bracket [vs best, vs published].
def neupims_miss(run) -> str:
    """Why the ratio over NeuPIMs as published misses the paper's (``run``: NeuPIMs as published at 1M)."""
    return ("known miss: the paper's ratio lies above our NeuPIMs as published. Its artifact puts a whole "
            "request in one channel, and a 1M-token request does not fit one channel (NeuPIMs refuses it); "
            "the smallest extension that serves it spreads the request over the fewest channels that hold it, "
            "which at 1M keeps most channels busy (attention channel utilisation "
            f"{run.attention_channel_utilisation:.0%} at Llama-3.1-70B, {run.tensor_parallel}-way). The paper does "
            "not describe how its NeuPIMs lays out a 1M-token cache; with head-first mapping and static KV "
            "(LoL-PIM v3's Table IV NeuPIMs, neither end here) the ratio is far above 5.0x "
            "(docs/long-context.md), so the paper's figure lies between that and our published end")


def _bracket(r, system: str, baseline: str) -> str:
    best, published = r.bracket(system, baseline)
    return f"bracket [vs best, vs published] = [{best:.2f}x, {published:.2f}x]"


def checks() -> list[AnchorCheck]:
    results, published = run_study()
    by_label: dict[str, list] = {}
    for r in results:
        by_label.setdefault(r.case.label, []).append(r)
    one_m_70b = next(r for r in by_label["1M"] if "70b" in r.case.model)
    xpu_max = max(results, key=lambda r: r.ratio("lolpim-xpu", "neupims"))
    cent_1m, neupims_1m = one_m_70b.runs["cent"], one_m_70b.runs["neupims"]
    rows = [
        AnchorCheck("lolpim", "LoL-PIM / CENT throughput at 1M tokens, Llama-3.1-70B, 1024 GB (study)",
                    SOURCE + ": 46.6x at 1M", published["lolpim_over_cent_1m"],
                    one_m_70b.ratio("lolpim", "cent"), 0.30,
                    note=f"within 30% against CENT as published; {_bracket(one_m_70b, 'lolpim', 'cent')}: "
                         "CENT with attention spread over its channels would be within 2x of LoL-PIM"),
        AnchorCheck("lolpim", "LoL-PIM (xPU+PIM) / NeuPIMs throughput at 1M tokens, Llama-3.1-70B, 1024 GB (study)",
                    SOURCE + ": 5.0x over NeuPIMs at 1M", published["lolpim_over_neupims_1m"],
                    one_m_70b.ratio("lolpim-xpu", "neupims"), 0.30,
                    documented_as_miss=True,
                    note=neupims_miss(neupims_1m) + f"; {_bracket(one_m_70b, 'lolpim-xpu', 'neupims')}"),
        AnchorCheck("lolpim", "LoL-PIM (xPU+PIM) / NeuPIMs throughput, the study's largest ratio (32K-1M)",
                    SOURCE + ": up to 8.4x on xPU+PIM", published["lolpim_over_neupims_max"],
                    xpu_max.ratio("lolpim-xpu", "neupims"), 0.30,
                    documented_as_miss=True, note=neupims_miss(neupims_1m) + f" (largest at {xpu_max.case.title}; "
                                        f"{_bracket(xpu_max, 'lolpim-xpu', 'neupims')})"),
        # one definition, fixed before comparing (docs/anchors.md): useful MAC FLOPs over the banks' peak
        # for the time the modules compute; the paper does not define its figure, so the run average
        # (idle pipeline stages included) is reported beside it
        AnchorCheck("lolpim", "CENT MAC utilisation over busy module time at 1M tokens, Llama-3.1-70B, 1024 GB (study)",
                    SOURCE + ": CENT falls to ~2% MAC utilisation at 1M", published["cent_mac_utilisation_1m"],
                    cent_mac := cent_1m.mac_utilisation_busy, 0.01, error_kind=ErrorKind.ABSOLUTE,
                    note=(f"within 1 point: useful MAC FLOPs / (banks' peak x modules x busy time) is {cent_mac:.2%} "
                          f"for CENT as published; averaged over the whole run {cent_1m.mac_utilisation:.2%} "
                          f"(modules busy {cent_1m.module_busy:.0%} of the run): static KV admits one or two "
                          "1M-token requests, so most pipeline passes carry one request, and head-first mapping "
                          "gives each of its KV heads one channel. The paper does not define its utilisation (the "
                          "busy-time definition was fixed in the tracker, issue 22, before this comparison); "
                          f"attention's own channel utilisation in CENT's chosen shape ({cent_1m.tensor_parallel}-way) "
                          f"is {cent_1m.attention_channel_utilisation:.1%}")),
    ]
    # held-out: no parameter of the PIM, GPU or system models was chosen on the paper's
    # long-context figures (the study's cases and protocol are fixed in its data file)
    return [replace(r, kind=RowKind.HELD_OUT) for r in rows]

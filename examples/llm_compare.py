# %% [markdown]
# # LoL-PIM against a GPU system, from Python
#
# A notebook in percent format (`# %%` cells): open it in Jupyter (jupytext), VS Code or
# Spyder, or run it as a script: `python examples/llm_compare.py`. Each step is what a
# `lolpim` command does (docs/api.md); everything here runs in this process in seconds.

# %%
import tempfile
from pathlib import Path

import lolpim

OUT = Path(tempfile.mkdtemp(prefix="lolpim-example-"))
WORK = {"source": "fixed", "requests": 4, "input_tokens": 512, "output_tokens": 8}

# %% [markdown]
# ## Compare systems on one trace (`lolpim run`)
# The keyword arguments are the keys of `lolpim run --set`: tables (`workload={...}`) or
# dotted keys (`**{"lolpim.kv_mode": "static"}`).

# %%
c = lolpim.compare(systems=["lolpim", "gpu"], model="llama2-7b", workload=WORK, executor="inline")
print(c.table())

# %% [markdown]
# Each system's result is typed (`lolpim.SystemResult`, units in the field names):

# %%
pim, gpu = c.system("lolpim"), c.system("gpu")
print(f"LoL-PIM {pim.throughput_tokens_per_s:.0f} tok/s on {pim.hardware.label}; "
      f"GPU {gpu.throughput_tokens_per_s:.0f} tok/s on {gpu.hardware.label}; speedup {gpu.speedup:.2f}x")
print("first request of LoL-PIM:", pim.per_request[0])

# %% [markdown]
# LoL-PIM on half the modules, set by a dotted key:

# %%
half = lolpim.compare(systems=["lolpim"], model="llama2-7b", workload=WORK, **{"lolpim.modules": 4})
print(f"4 modules: {half.system('lolpim').throughput_tokens_per_s:.0f} tok/s ({half.system('lolpim').description})")

# %% [markdown]
# Files as `lolpim run --out` writes them, a DataFrame (with the extra `lolpim[dataframe]`),
# and the JSON of `lolpim run --json`:

# %%
print(c.plot(OUT / "comparison.png"))
try:
    print(c.to_dataframe()[["system", "throughput_tokens_per_s", "tpot_mean_s", "speedup"]])
except lolpim.UserError as missing:   # pandas is an optional extra
    print(missing)
print(c.to_json()[:120], "...")

# %% [markdown]
# ## How many PIM modules a model needs (`lolpim size`)

# %%
sized = lolpim.size("llama2-7b", context=2048, output_tokens=64, doublings=1)
print(sized.table())
print("fewest:", sized.rows[0].modules, "modules,", f"{sized.rows[0].tokens_per_s:.0f} est. tok/s")

# %% [markdown]
# ## One decode step, part by part (`lolpim estimate`)

# %%
step = lolpim.estimate("llama2-7b", context=2048, batch=8, system="pim", modules=8)
print(step.table())

# %% [markdown]
# ## A small sweep (`lolpim sweep`): LoL-PIM at 2 and 4 modules
# Given as tables instead of a sweep file; the points run in this process (`serial=True`) and
# are appended to the results file, so running the cell again skips them.

# %%
sweep = lolpim.sweep(grid={"system": ["lolpim"], "modules": [2, 4]},
                     set={"model": "llama2-7b", "workload": WORK},
                     results=OUT / "sweep.jsonl")
print(sweep.table())
for p in sweep.points:
    print(p.point, f"{p.result.throughput_tokens_per_s:.0f} tok/s")

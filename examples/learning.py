# %% [markdown]
# # Hebbian learning with ternary synapses, and constrained backpropagation
#
# `lolpim hebbian` and `lolpim cbp` as Python functions (docs/api.md): the same settings as the
# flags, typed results with `.table()`, `.to_json()` and `.write(folder)`. Tiny sizes, so the
# notebook runs in seconds.

# %%
import json

from lolpim.orchestration import api_learning as learn

# %% [markdown]
# ## The multiplication table, stored and recalled
# Two layers of ternary synapses learn operands -> pairs -> products.

# %%
table = learn.hebbian("multiply", max_operand=5)
print(table.table())
print(f"recall accuracy: {table.runs[0]['recall_accuracy']:.0%}")

# %% [markdown]
# ## Factorisation by recalling the table backwards

# %%
factors = learn.hebbian("factorize", numbers=(12, 35, 37))
for row in factors.runs[0]["rows"]:
    print(row["number"], "=", row["prime_factors"] or "not a product of the table")

# %% [markdown]
# ## CBP: binary weights on digits (a very short run)
# A full-precision MLP pretrained for one epoch, then two CBP epochs under the binary
# constraint. The published run uses the defaults (40 + 300 epochs, 128-wide layers).

# %%
cbp = learn.cbp(constraint="binary", epochs=2, pretrain_epochs=1, hidden=(8, 8), quiet=True)
print(cbp.table())
summary = json.loads(cbp.to_json())["summary"][0]
print(f"constraint failure score after training: {summary['final_cfs']:.3f}")

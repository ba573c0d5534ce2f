# %% [markdown]
# # Synaptic plasticity protocols from Python
#
# Each protocol of `lolpim plasticity` is a function of `lolpim.orchestration.api_learning`
# taking the same settings as the command's flags (docs/api.md). Small sizes here, so the whole
# notebook runs in seconds; drop the size settings for the published protocols.

# %%
from lolpim.core.errors import UserError
from lolpim.orchestration import api_learning as learn

# %% [markdown]
# ## STDP on the Graupner-Brunel synapse
# A delta-t sweep of pre-post pairs. `rows` hold (delta t in ms, relative weight change).

# %%
stdp = learn.stdp(model="graupner-brunel", pairs=10)
ltp = max(stdp.rows, key=lambda row: row[1])
ltd = min(stdp.rows, key=lambda row: row[1])
print(f"{stdp.columns}: {len(stdp.rows)} delta t; largest LTP {ltp[1]:+.3f} at {ltp[0]:+.1f} ms, "
      f"largest LTD {ltd[1]:+.3f} at {ltd[0]:+.1f} ms")

# %% [markdown]
# ## Voltage-clamp pairing on the calcium cascade
# Weight change against the holding potential: depression at moderate depolarisation,
# potentiation near 0 mV.

# %%
pairing = learn.pairing(pairs=5)
print(pairing.table())

# %% [markdown]
# ## The Sjostrom frequency protocol at one frequency, and the BCM protocol

# %%
sjostrom = learn.frequency(frequency_hz=20.0)
print(sjostrom.table())
bcm = learn.bcm()
print(f"BCM crossover after the default history: {bcm.data['crossover_hz']} Hz")

# %% [markdown]
# ## Ocular dominance: a tiny network, one neuron, four synapses per eye
# The summary holds each control's change and the criteria the docs discuss.

# %%
od = learn.ocular_dominance(neurons=1, synapses=4, binocular_s=1.0, deprivation_s=2.0, show_progress=False)
for name, control in od.data["summary"]["controls"].items():
    print(f"{name:<24} shift against control {control['shift_vs_control']:+.4f}")

# %% [markdown]
# ## The ocular-dominance map of a cortical sheet: a tiny 4 x 4 sheet
# `lolpim plasticity od-map` as a function: the map's statistics after each 10 s segment
# (`timeline`), the final OD index map as an array, and with `deprivation_s` the shift under lid
# suture against the binocular control. Columns need a larger sheet and minutes (docs/od-map.md).

# %%
sheet = learn.od_map(size=4, synapses=2, binocular_s=1.0, deprivation_s=0.5, show_progress=False)
print(f"OD index map {sheet.od_index().shape}, Sarle's bimodality {sheet.summary['od_bimodality']:.3f}, "
      f"lid suture vs control {sheet.summary['deprivation']['od_shift_vs_control']:+.4f}")

# %% [markdown]
# ## A bad setting names itself and what is allowed

# %%
try:
    learn.stdp(pairs=0)
except UserError as exc:
    print(exc)

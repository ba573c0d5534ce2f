"""Brian2 side of benchmarks/plasticity.py: N independent Graupner-Brunel DP synapses, driven by
independent 1 Hz Poisson pre and post trains, clock-driven at dt = 0.1 ms with the Heun method.

Runs inside its own virtualenv (Brian2 2.9 needs numpy < 2); prints one JSON line per target.
Usage: python brian2_graupner_brunel.py N DURATION_S TARGET [TARGET ...]   (targets: cython, numpy)
"""
import json
import sys
import time

import brian2 as b2


def run(n: int, duration_s: float, target: str) -> dict:
    b2.start_scope()
    b2.prefs.codegen.target = target
    b2.defaultclock.dt = 0.1 * b2.ms
    eqs = """
    dc/dt = -c / tau_ca : 1
    drho/dt = (-rho * (1 - rho) * (rho_star - rho) + gamma_p * (1 - rho) * int(c > theta_p)
               - gamma_d * rho * int(c > theta_d)) / tau
              + sigma * sqrt(int(c > theta_p) + int(c > theta_d)) * xi / sqrt(tau) : 1
    """
    namespace = dict(tau_ca=20 * b2.ms, theta_p=1.3, theta_d=1.0, gamma_p=321.808, gamma_d=200.0,
                     tau=150 * b2.second, rho_star=0.5, sigma=2.8284, ca_jump_pre=1.0, ca_jump_post=2.0,
                     n_down=n // 2)
    syn = b2.NeuronGroup(n, eqs, method="heun", namespace=namespace)
    syn.rho = "int(i >= n_down)"  # half DOWN, half UP, as in the paper (beta = 0.5)
    pre = b2.PoissonGroup(n, 1 * b2.Hz)
    post = b2.PoissonGroup(n, 1 * b2.Hz)
    s_pre = b2.Synapses(pre, syn, on_pre="c += ca_jump_pre", delay=13.7 * b2.ms, namespace=namespace)
    s_pre.connect(j="i")
    s_post = b2.Synapses(post, syn, on_pre="c += ca_jump_post", namespace=namespace)
    s_post.connect(j="i")
    net = b2.Network(syn, pre, post, s_pre, s_post)
    t0 = time.perf_counter()
    net.run(0.1 * b2.second)          # code generation and compilation happen here
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    net.run(duration_s * b2.second)
    wall_s = time.perf_counter() - t0
    steps = int(round(duration_s / 1e-4))
    return {"target": target, "n_synapses": n, "duration_s": duration_s, "wall_s": wall_s,
            "setup_s": setup_s, "synapse_steps_per_s": n * steps / wall_s,
            "brian2": b2.__version__, "mean_rho": float(syn.rho[:].mean())}


if __name__ == "__main__":
    n, duration = int(sys.argv[1]), float(sys.argv[2])
    for tgt in sys.argv[3:]:
        print(json.dumps(run(n, duration, tgt)), flush=True)

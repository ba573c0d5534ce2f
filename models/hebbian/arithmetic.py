"""Multiplication table as a two-layer ternary Hebbian memory, and factorisation by
running the same memory backwards.

Symbols: operand a and operand b are one-hot over 1..N each (2N inputs); every distinct
product is one output symbol. A single ternary layer cannot map two one-hot operands to
their product (the product depends on the conjunction), so the memory has two layers,
trained greedily, one edge at a time:

1. operands -> pair cells: one neuron per ordered pair (a, b), taught to fire for that
   pair only (it ends with +1 on a and b, -1 on the operands it must ignore);
2. pair cells -> products: the product neuron of a*b is taught to fire for each of its
   pair cells (+1 synapses from exactly those cells).

Forward recall: winner-take-all in each layer. Backward recall (factorisation): activate
the product symbol, follow its +1 synapses back to the pair cells, then each pair cell's
+1 synapses back to its two operands. Prime factorisation repeats that recall.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lolpim.core import schema
from lolpim.core.errors import ParameterError
from lolpim.models.hebbian.network import FitHistory, LayerConfig, TernaryLayer, train_greedy
from lolpim.models.hebbian.rule import TransitionRule


@schema.frozen
class TableConfig:
    max_operand: int = schema.field(default=9, min=2, max=64)   # operands 1..max_operand
    p_potentiate: float = 0.5
    p_depress: float = 0.5
    p_hetero_depress: float = 0.5   # operands that are absent when a pair cell learns
    max_epochs: int = schema.field(default=200, min=1)   # per layer; training stops at exact recall

    def __post_init__(self):   # after the declared ranges
        TransitionRule(self.p_potentiate, self.p_depress, self.p_hetero_depress)


@dataclass
class MultiplicationMemory:
    config: TableConfig
    pair_layer: TernaryLayer        # operands (2N) -> pair cells (N*N)
    product_layer: TernaryLayer     # pair cells -> product symbols
    products: np.ndarray            # value of each product symbol, ascending
    histories: list[FitHistory] = field(default_factory=list, repr=False)

    @property
    def n(self) -> int:
        return self.config.max_operand

    def encode(self, a: int, b: int) -> np.ndarray:
        for name, v in (("a", a), ("b", b)):
            if not 1 <= v <= self.n:
                raise ParameterError(name, f"must be an operand in 1..{self.n}, got {v!r}")
        x = np.zeros(2 * self.n, dtype=np.int8)
        x[a - 1] = 1
        x[self.n + b - 1] = 1
        return x

    def multiply(self, a: int, b: int) -> int:
        """Forward recall of the product of a and b."""
        pair = self.pair_layer.winner(self.encode(a, b))
        return int(self.products[self.product_layer.winner(pair).argmax()])

    def factor_pairs(self, product: int) -> list[tuple[int, int]]:
        """Backward recall: every (a, b) with a <= b stored for this product; [] if the
        product is not a symbol of this memory."""
        where = np.flatnonzero(self.products == product)
        if where.size == 0:
            return []
        symbol = np.zeros(len(self.products), dtype=np.int8)
        symbol[where[0]] = 1
        cells = np.flatnonzero(self.product_layer.backward(symbol)[0] > 0)
        pairs = set()
        for cell in cells:
            one_hot = np.zeros(self.n * self.n, dtype=np.int8)
            one_hot[cell] = 1
            drive = self.pair_layer.backward(one_hot)[0]
            for a in np.flatnonzero(drive[: self.n] > 0) + 1:
                for b in np.flatnonzero(drive[self.n:] > 0) + 1:
                    pairs.add((int(min(a, b)), int(max(a, b))))
        return sorted(pairs)

    def prime_factors(self, number: int) -> list[int]:
        """Prime factorisation by repeated backward recall: split by any stored pair with
        both factors > 1 and recall again on both factors. A number with no such pair is
        prime if it is at most 2N: every composite m <= 2N has the pair (p, m/p) with p >= 2
        and m/p <= N, so the table would hold it. Above 2N the memory cannot tell."""
        if number < 2:
            raise ParameterError("number", f"must be >= 2, got {number!r}")
        pairs = self.factor_pairs(number)
        if not pairs and number > 2 * self.n:
            raise ParameterError("number", f"{number} is not a product in the 1..{self.n} table; "
                                           f"train a larger table (max_operand >= {(number + 1) // 2})")
        split = [(a, b) for a, b in pairs if a > 1]
        if not split:
            return [number]
        a, b = split[0]
        return sorted(self.prime_factors(a) + self.prime_factors(b))


def table_data(max_operand: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Inputs (operand codes), pair-cell targets, product targets, product values."""
    n = max_operand
    a, b = np.divmod(np.arange(n * n), n)
    a, b = a + 1, b + 1
    x = np.zeros((n * n, 2 * n), dtype=np.int8)
    x[np.arange(n * n), a - 1] = 1
    x[np.arange(n * n), n + b - 1] = 1
    pair_targets = np.eye(n * n, dtype=np.int8)
    products = np.unique(a * b)
    product_targets = (products[None, :] == (a * b)[:, None]).astype(np.int8)
    return x, pair_targets, product_targets, products


def train_multiplication(config: TableConfig = TableConfig(), seed: int = 0) -> MultiplicationMemory:
    x, pair_targets, product_targets, products = table_data(config.max_operand)
    n = config.max_operand
    # Pair cell fires on drive 2 (both operands); drive 1 (one operand) must stay silent.
    # Heterosynaptic depression lets a pair cell learn to ignore the other operands in the
    # presentations where it is taught, instead of waiting to be wrongly driven by each.
    pair_rule = TransitionRule(config.p_potentiate, config.p_depress, config.p_hetero_depress)
    pair_layer = TernaryLayer(LayerConfig(2 * n, n * n, pair_rule, threshold=1.0, margin=0.5))
    # Product neuron fires on drive 1 from any one of its pair cells, so its other pair
    # cells must not be depressed while it learns one: no heterosynaptic depression here.
    product_rule = TransitionRule(config.p_potentiate, config.p_depress)
    product_layer = TernaryLayer(LayerConfig(n * n, len(products), product_rule, threshold=0.5, margin=0.5))
    rng = np.random.default_rng(seed)
    histories = train_greedy([pair_layer, product_layer], x, [pair_targets, product_targets], rng,
                             max_epochs=config.max_epochs)
    return MultiplicationMemory(config, pair_layer, product_layer, products, histories)


def expected_pairs(product: int, max_operand: int) -> list[tuple[int, int]]:
    return [(a, product // a) for a in range(1, max_operand + 1)
            if product % a == 0 and a <= product // a <= max_operand]

"""The torch adapter constrains a small CNN on digits; skipped where torch is not installed."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lolpim.models.cbp.digits import load_digits_split  # noqa: E402
from lolpim.models.cbp.levels import level_set  # noqa: E402
from lolpim.models.cbp.schedule import CBPSettings  # noqa: E402
from lolpim.models.cbp.torch_adapter import constrain  # noqa: E402


def small_cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 3), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(16 * 6 * 6, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 10))


@pytest.mark.parametrize("name", ["binary", "shift2"])
def test_small_cnn_weights_take_only_allowed_values(name):
    torch.manual_seed(0)
    x_tr, y_tr, x_te, y_te = load_digits_split(0)
    to_t = lambda x: torch.tensor(x, dtype=torch.float32).reshape(-1, 1, 8, 8)  # noqa: E731
    xt, yt, xe, ye = to_t(x_tr), torch.tensor(y_tr), to_t(x_te), torch.tensor(y_te)
    batches = [(xt[i:i + 64], yt[i:i + 64]) for i in range(0, len(yt), 64)]
    model = small_cnn()
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(8):  # full-precision pretraining
        for xb, yb in batches:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
    accuracy = lambda: float((model(xe).argmax(1) == ye).float().mean())  # noqa: E731
    with torch.no_grad():
        fp = accuracy()
    result = constrain(model, name, batches, loss_fn, epochs=12,
                       settings=CBPSettings(p_max_epochs=2))
    assert result.layer_names == ["2", "4", "7"]   # first conv and last linear stay full precision
    allowed = level_set(name).levels
    for layer_name, layer in zip(result.layer_names, result.packed):
        weight = dict(model.named_modules())[layer_name].weight.detach().double().numpy()
        a = result.scales[layer_name]
        assert np.isclose(np.unique(weight / a)[:, None], allowed[None, :], atol=1e-6).any(1).all()
        assert np.allclose(layer.weights().T.reshape(weight.shape), weight, atol=1e-6)
    assert len(torch.unique(model[0].weight)) > 50
    assert result.history[-1]["cfs"] < 0.5 * result.history[0]["cfs"]
    with torch.no_grad():
        constrained = accuracy()
    print(f"{name}: FP {fp:.4f} -> CBP {constrained:.4f}")
    assert constrained > fp - 0.10, (fp, constrained)

"""Tests for nnscratch.optimizers (book ch. 6.1): torch.optim as oracle, in-place updates, state round trip."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nnscratch import optimizers as opt_mod
from nnscratch.optimizers import (
    SGD, AdaGrad, Adam, AdamW, CosineDecay, Momentum, Nesterov, Optimizer, RMSprop, StepDecay,
    get_optimizer, get_schedule,
)

SHAPES = {"affine1.W": (4, 3), "affine1.b": (3,), "conv1.W": (2, 1, 3, 3)}
STEPS = 20
TIGHT = dict(rtol=1e-10, atol=1e-12)
ALL_NAMES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")


def make_params(seed: int = 0, dtype=np.float64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def make_grads(seed: int = 1, steps: int = STEPS, dtype=np.float64) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()} for _ in range(steps)]


def run_ours(opt: Optimizer, params, grad_seq) -> list[dict[str, np.ndarray]]:
    """Apply every grad dict in turn; return a snapshot of the params after each step."""
    traj = []
    for g in grad_seq:
        opt.update(params, g)
        traj.append({k: v.copy() for k, v in params.items()})
    return traj


def run_torch(make_opt, params0, grad_seq, make_sched=None) -> list[dict[str, np.ndarray]]:
    torch = pytest.importorskip("torch")
    tp = {k: torch.tensor(v.copy(), dtype=torch.float64, requires_grad=True) for k, v in params0.items()}
    topt = make_opt(list(tp.values()))
    sched = make_sched(topt) if make_sched else None
    traj = []
    for g in grad_seq:
        for k, t in tp.items():
            t.grad = torch.tensor(g[k].copy(), dtype=torch.float64)
        topt.step()
        if sched is not None:
            sched.step()
        traj.append({k: t.detach().numpy().copy() for k, t in tp.items()})
    return traj


def assert_traj_close(a, b, **tol) -> None:
    assert len(a) == len(b)
    for step, (pa, pb) in enumerate(zip(a, b)):
        for k in pa:
            np.testing.assert_allclose(pa[k], pb[k], err_msg=f"step {step + 1}, {k}", **tol)


# ---------------------------------------------------------------- torch.optim as oracle

@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda: SGD(lr=0.1), lambda t, p: t.optim.SGD(p, lr=0.1)),
        # torch SGD's weight decay is L2 (g += wd*p), which equals decoupled decay for plain SGD.
        (lambda: SGD(lr=0.1, weight_decay=0.05), lambda t, p: t.optim.SGD(p, lr=0.1, weight_decay=0.05)),
        # book v = mu*v - lr*g equals -lr * (torch buf = mu*buf + g) while lr is constant.
        (lambda: Momentum(lr=0.05, momentum=0.9), lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.9)),
        (lambda: AdaGrad(lr=0.1, eps=1e-7),
         lambda t, p: t.optim.Adagrad(p, lr=0.1, eps=1e-7, initial_accumulator_value=0.0)),
        (lambda: RMSprop(lr=0.01, decay_rate=0.99, eps=1e-7),
         lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.99, eps=1e-7)),
        (lambda: RMSprop(lr=0.02, decay_rate=0.9, eps=1e-6),
         lambda t, p: t.optim.RMSprop(p, lr=0.02, alpha=0.9, eps=1e-6)),
        # book Adam folds bias correction into the step: identical to torch exactly when eps = 0.
        (lambda: Adam(lr=0.01, eps=0.0), lambda t, p: t.optim.Adam(p, lr=0.01, eps=0.0)),
        (lambda: Adam(lr=0.003, beta1=0.8, beta2=0.99, eps=0.0),
         lambda t, p: t.optim.Adam(p, lr=0.003, betas=(0.8, 0.99), eps=0.0)),
        (lambda: AdamW(lr=0.01, weight_decay=0.01), lambda t, p: t.optim.AdamW(p, lr=0.01, weight_decay=0.01)),
        (lambda: AdamW(lr=0.02, beta1=0.8, beta2=0.95, weight_decay=0.1, eps=1e-6),
         lambda t, p: t.optim.AdamW(p, lr=0.02, betas=(0.8, 0.95), weight_decay=0.1, eps=1e-6)),
    ],
    ids=["sgd", "sgd-wd", "momentum", "adagrad", "rmsprop", "rmsprop-2", "adam-eps0", "adam-eps0-betas",
         "adamw", "adamw-2"],
)
def test_matches_torch(ours, theirs) -> None:
    torch = pytest.importorskip("torch")
    params0, grads = make_params(), make_grads()
    mine = run_ours(ours(), {k: v.copy() for k, v in params0.items()}, grads)
    ref = run_torch(lambda p: theirs(torch, p), params0, grads)
    assert_traj_close(mine, ref, **TIGHT)


def adam_book_reference(params0, grad_seq, lr, b1, b2, eps) -> list[dict[str, np.ndarray]]:
    """The book's common/optimizer.py Adam, transcribed literally."""
    p = {k: v.copy() for k, v in params0.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    traj = []
    for it, g in enumerate(grad_seq, start=1):
        lr_t = lr * np.sqrt(1.0 - b2**it) / (1.0 - b1**it)
        for k in p:
            m[k] += (1 - b1) * (g[k] - m[k])
            v[k] += (1 - b2) * (g[k] ** 2 - v[k])
            p[k] -= lr_t * m[k] / (np.sqrt(v[k]) + eps)
        traj.append({k: x.copy() for k, x in p.items()})
    return traj


def test_adam_pins_book_formula() -> None:
    params0, grads = make_params(), make_grads()
    mine = run_ours(Adam(lr=0.01), {k: v.copy() for k, v in params0.items()}, grads)
    assert_traj_close(mine, adam_book_reference(params0, grads, 0.01, 0.9, 0.999, 1e-7), rtol=1e-13, atol=1e-14)


def test_adam_with_eps_is_close_to_torch_but_not_identical() -> None:
    """Book eps acts like torch eps/sqrt(1-beta2^t): paths (total move <= 20*lr = 0.2) agree to 1e-5 absolute only."""
    torch = pytest.importorskip("torch")
    params0, grads = make_params(), make_grads()
    mine = run_ours(Adam(lr=0.01, eps=1e-7), {k: v.copy() for k, v in params0.items()}, grads)
    ref = run_torch(lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-7), params0, grads)
    assert_traj_close(mine, ref, rtol=0.0, atol=1e-5)
    diff = max(np.max(np.abs(mine[-1][k] - ref[-1][k])) for k in SHAPES)
    assert diff > 1e-12  # the eps placement really differs


def test_nesterov_pins_book_formula() -> None:
    params0, grads = make_params(), make_grads()
    lr, mu = 0.05, 0.9
    mine = run_ours(Nesterov(lr=lr, momentum=mu), {k: v.copy() for k, v in params0.items()}, grads)
    p = {k: v.copy() for k, v in params0.items()}
    vel = {k: np.zeros_like(x) for k, x in p.items()}
    for step, g in enumerate(grads):  # book's common/optimizer.py Nesterov, literally
        for k in p:
            vel[k] *= mu
            vel[k] -= lr * g[k]
            p[k] += mu * mu * vel[k]
            p[k] -= (1 + mu) * lr * g[k]
        for k in p:
            np.testing.assert_allclose(mine[step][k], p[k], rtol=1e-13, atol=1e-14)


def test_nesterov_relation_to_torch() -> None:
    """Book step = mu * (torch nesterov=True step) - lr*g, with the same gradient history; so they differ."""
    torch = pytest.importorskip("torch")
    params0, grads = make_params(), make_grads()
    lr, mu = 0.05, 0.9
    mine = run_ours(Nesterov(lr=lr, momentum=mu), {k: v.copy() for k, v in params0.items()}, grads)
    ref = run_torch(lambda p: torch.optim.SGD(p, lr=lr, momentum=mu, nesterov=True), params0, grads)
    prev_m, prev_r = params0, params0
    for step, g in enumerate(grads):
        for k in SHAPES:
            d_book = mine[step][k] - prev_m[k]
            d_torch = ref[step][k] - prev_r[k]
            np.testing.assert_allclose(d_book, mu * d_torch - lr * g[k], rtol=1e-9, atol=1e-12)
        prev_m, prev_r = mine[step], ref[step]
    assert not np.allclose(mine[-1]["affine1.W"], ref[-1]["affine1.W"], rtol=1e-3)


def test_schedules_match_torch_schedulers() -> None:
    torch = pytest.importorskip("torch")
    params0, grads = make_params(), make_grads()
    mine = run_ours(SGD(lr_schedule=StepDecay(0.1, step_size=4, gamma=0.5)),
                    {k: v.copy() for k, v in params0.items()}, grads)
    ref = run_torch(lambda p: torch.optim.SGD(p, lr=0.1), params0, grads,
                    lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5))
    assert_traj_close(mine, ref, **TIGHT)
    sched = CosineDecay(0.1, total_steps=STEPS, min_lr=0.01)
    mine = run_ours(Momentum(lr_schedule=sched), {k: v.copy() for k, v in params0.items()}, grads)
    ref = run_torch(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), params0, grads,
                    lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=STEPS, eta_min=0.01))
    # Momentum equals torch only for constant lr: torch's buf is lr-free, the book's v carries old lr's.
    assert not np.allclose(mine[-1]["affine1.W"], ref[-1]["affine1.W"], rtol=1e-6)
    mine = run_ours(SGD(lr_schedule=sched), {k: v.copy() for k, v in params0.items()}, grads)
    ref = run_torch(lambda p: torch.optim.SGD(p, lr=0.1), params0, grads,
                    lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=STEPS, eta_min=0.01))
    assert_traj_close(mine, ref, **TIGHT)


# ---------------------------------------------------------------- in place, never rebinding

VARIANTS = [(n, {}) for n in ALL_NAMES] + [
    (n, {"lr_schedule": StepDecay(0.01, step_size=2), "weight_decay": 0.1}) for n in ALL_NAMES
]


@pytest.mark.parametrize("name, kwargs", VARIANTS, ids=[f"{n}-{'sched-wd' if k else 'plain'}" for n, k in VARIANTS])
def test_updates_in_place(name, kwargs) -> None:
    flat = np.random.default_rng(3).standard_normal(sum(math.prod(s) for s in SHAPES.values()))
    params, start = {}, 0
    for k, s in SHAPES.items():  # every param is a view into one flat buffer, as a model might hold them
        n = math.prod(s)
        params[k] = flat[start:start + n].reshape(s)
        start += n
    before = flat.copy()
    ids = {k: id(v) for k, v in params.items()}
    ptrs = {k: v.__array_interface__["data"][0] for k, v in params.items()}
    held = {k: v.reshape(-1) for k, v in params.items()}  # views a layer might hold elsewhere
    assert all(np.shares_memory(held[k], params[k]) for k in params)
    params_dict = params
    grads = make_grads(seed=4, steps=5)
    grads_copy = [{k: v.copy() for k, v in g.items()} for g in grads]
    opt = get_optimizer(name, **kwargs)
    for g in grads:
        opt.update(params, g)
    assert params is params_dict and list(params) == list(SHAPES)
    for k, v in params.items():
        assert id(v) == ids[k], f"{name} rebound params[{k!r}]"
        assert v.__array_interface__["data"][0] == ptrs[k], f"{name} moved params[{k!r}]"
        np.testing.assert_array_equal(held[k], v.reshape(-1))
    assert not np.allclose(flat, before), "parameters did not move"
    offset = 0
    for k, v in params.items():  # the shared buffer saw every update
        np.testing.assert_array_equal(flat[offset:offset + v.size], v.reshape(-1))
        offset += v.size
    for g, gc in zip(grads, grads_copy):  # grads are read, never written
        for k in g:
            np.testing.assert_array_equal(g[k], gc[k])


@pytest.mark.parametrize("name", ALL_NAMES)
def test_float32_stays_float32(name) -> None:
    params = make_params(dtype=np.float32)
    ids = {k: id(v) for k, v in params.items()}
    opt = get_optimizer(name, weight_decay=0.01)
    for i, g in enumerate(make_grads(steps=4, dtype=np.float32)):
        if i == 3:  # a float64 gradient is cast to the parameter's dtype, never upcasting it
            g = {k: v.astype(np.float64) for k, v in g.items()}
        opt.update(params, g)
    for k, v in params.items():
        assert v.dtype == np.float32 and id(v) == ids[k] and np.all(np.isfinite(v))
    for key, value in opt.state_dict().items():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32, key


# ---------------------------------------------------------------- state: lazy, by name, round trip

def test_state_is_lazy_and_keyed_by_name() -> None:
    opt = Momentum(lr=0.1)
    assert opt.state_dict() == {"iter": 0, "lr": 0.1}
    a = {"a": np.ones(3)}
    opt.update(a, {"a": np.ones(3)})
    assert sorted(k for k in opt.state_dict() if "/" in k) == ["v/a"]
    ab = {"a": a["a"], "b": np.ones((2, 2))}
    opt.update(ab, {"a": np.ones(3), "b": np.ones((2, 2))})
    sd = opt.state_dict()
    assert sorted(k for k in sd if "/" in k) == ["v/a", "v/b"]
    np.testing.assert_allclose(sd["v/a"], -0.1 * 1.9)  # v = 0.9*(-0.1) - 0.1
    np.testing.assert_allclose(sd["v/b"], -0.1)  # fresh state for a name first seen now
    assert opt.iter == 2


def test_adam_bias_correction_is_per_parameter() -> None:
    """A parameter first seen at a later update gets the same first step as in a fresh Adam."""
    late = Adam(lr=0.01)
    for _ in range(5):
        late.update({"a": np.ones(2)}, {"a": np.ones(2)})
    b1, b2 = np.array([1.0, 2.0]), np.array([1.0, 2.0])
    late.update({"a": np.ones(2), "b": b1}, {"a": np.ones(2), "b": np.array([0.5, -3.0])})
    Adam(lr=0.01).update({"b": b2}, {"b": np.array([0.5, -3.0])})
    np.testing.assert_array_equal(b1, b2)
    assert late.state_dict()["t/b"] == 1 and late.state_dict()["t/a"] == 6


@pytest.mark.parametrize("name, kwargs", VARIANTS + [("sgd", {"lr_schedule": CosineDecay(0.1, 7)})],
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(VARIANTS)] + ["sgd-cosine"])
def test_state_dict_round_trip_is_bit_identical(name, kwargs, tmp_path) -> None:
    grads = make_grads(seed=5, steps=10)
    full, opt = make_params(), get_optimizer(name, **kwargs)
    run_ours(opt, full, grads)

    half, first = make_params(), get_optimizer(name, **kwargs)
    run_ours(first, half, grads[:5])
    np.savez(tmp_path / "opt.npz", **first.state_dict())
    config = json.loads(json.dumps(first.get_config()))  # JSON-able, schedules included
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as data:
        second = get_optimizer(first.name, **config)
        second.load_state_dict(data)
    assert second.iter == 5 and second.lr == first.lr
    run_ours(second, half, grads[5:])
    for k in SHAPES:
        np.testing.assert_array_equal(half[k], full[k])
    sd_a, sd_b = opt.state_dict(), second.state_dict()
    assert sd_a.keys() == sd_b.keys()
    for k in sd_a:
        np.testing.assert_array_equal(sd_a[k], sd_b[k])


def test_state_dict_is_a_copy_and_load_validates() -> None:
    opt = AdaGrad()
    p = {"w": np.ones(3)}
    opt.update(p, {"w": np.ones(3)})
    sd = opt.state_dict()
    opt.update(p, {"w": np.ones(3)})
    np.testing.assert_array_equal(sd["h/w"], np.ones(3))
    with pytest.raises(ValueError, match="unknown"):
        AdaGrad().load_state_dict({"iter": 1, "lr": 0.01, "m/w": np.ones(3)})
    with pytest.raises(ValueError, match="iter"):
        AdaGrad().load_state_dict({"lr": 0.01})
    bad = AdaGrad()
    bad.load_state_dict({"iter": 1, "lr": 0.01, "h/w": np.ones(2)})
    with pytest.raises(ValueError, match="shape"):
        bad.update(p, {"w": np.ones(3)})


# ---------------------------------------------------------------- schedules

def test_step_decay_values() -> None:
    s = StepDecay(0.1, step_size=3, gamma=0.5)
    assert [s(k) for k in (0, 2, 3, 5, 6, 9)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.0125])
    assert get_schedule(s.get_config())(6) == pytest.approx(0.025)


def test_cosine_decay_values() -> None:
    s = CosineDecay(1.0, total_steps=10, min_lr=0.1)
    assert s(0) == pytest.approx(1.0)
    assert s(5) == pytest.approx(0.55)
    assert s(10) == pytest.approx(0.1) and s(25) == pytest.approx(0.1)
    assert s(2) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 0.2)))
    assert get_schedule(json.loads(json.dumps(s.get_config())))(5) == pytest.approx(0.55)


def test_optimizer_lr_follows_schedule() -> None:
    sched = StepDecay(0.2, step_size=2, gamma=0.1)
    opt = SGD(lr=123.0, lr_schedule=sched)
    assert opt.lr == pytest.approx(0.2)  # the lr the next update will use
    p = {"w": np.zeros(1)}
    for k in range(5):
        before = p["w"].copy()
        opt.update(p, {"w": np.ones(1)})
        assert opt.lr == pytest.approx(sched(k)) and opt.iter == k + 1
        np.testing.assert_allclose(before - p["w"], sched(k))
    cfg = SGD(lr_schedule={"name": "cosine", "lr": 0.5, "total_steps": 4}).get_config()
    assert cfg["lr_schedule"] == {"name": "cosine", "lr": 0.5, "total_steps": 4, "min_lr": 0.0}


def test_weight_decay_is_decoupled() -> None:
    p = {"w": np.array([2.0, -4.0])}
    Adam(lr=0.1, weight_decay=0.5).update(p, {"w": np.zeros(2)})  # zero grad: only the decay acts
    np.testing.assert_allclose(p["w"], np.array([2.0, -4.0]) * (1 - 0.1 * 0.5))


# ---------------------------------------------------------------- registry and errors

def test_get_optimizer_names_and_instances() -> None:
    assert isinstance(get_optimizer("ADAM"), Adam) and isinstance(get_optimizer("RMSProp"), RMSprop)
    assert get_optimizer("momentum", lr=0.3, momentum=0.5).get_config()["momentum"] == 0.5
    inst = Nesterov()
    assert get_optimizer(inst) is inst
    for name in ALL_NAMES:
        o = get_optimizer(name)
        assert o.name == name and type(get_optimizer(name, **o.get_config())) is type(o)
    assert Adam().get_config()["eps"] == 1e-7 and AdamW().get_config()["weight_decay"] == 0.01
    with pytest.raises(ValueError, match="sgd.*momentum.*adamw"):
        get_optimizer("adadelta")
    with pytest.raises(ValueError, match="momentum"):
        get_optimizer("sgd", momentum=0.9)
    with pytest.raises(ValueError):
        get_optimizer(inst, lr=0.1)


def test_bad_inputs_raise_value_error() -> None:
    opt = SGD()
    with pytest.raises(ValueError, match="'b'"):
        opt.update({"a": np.ones(2), "b": np.ones(2)}, {"a": np.ones(2)})
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)|\(2,\).*\(3,\)"):
        opt.update({"a": np.ones(2)}, {"a": np.ones(3)})
    with pytest.raises(ValueError, match="'c'"):
        opt.update({"a": np.ones(2)}, {"a": np.ones(2), "c": np.ones(2)})
    with pytest.raises(ValueError):
        opt.update({"a": np.ones(2, dtype=np.int64)}, {"a": np.ones(2)})
    p = {"a": np.ones(2), "b": np.ones(2)}
    with pytest.raises(ValueError):  # validation happens before any parameter moves
        Momentum().update(p, {"a": np.ones(2), "b": np.ones(3)})
    np.testing.assert_array_equal(p["a"], np.ones(2))
    for make in (lambda: SGD(lr=-1), lambda: Momentum(momentum=1.0), lambda: RMSprop(decay_rate=1.5),
                 lambda: Adam(beta2=-0.1), lambda: AdaGrad(eps=-1e-7), lambda: SGD(weight_decay=-1),
                 lambda: StepDecay(0.1, step_size=0), lambda: CosineDecay(0.1, total_steps=0),
                 lambda: get_schedule({"name": "linear"}), lambda: get_schedule({"lr": 0.1})):
        with pytest.raises(ValueError):
            make()
    with pytest.raises(ValueError, match="get_config"):
        SGD(lr_schedule=lambda k: 0.1).get_config()
    assert repr(SGD(lr=0.5)).startswith("SGD(") and opt_mod.RMSProp is RMSprop


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_in_cache_blocks_is_bit_identical_to_one_pass(monkeypatch, dtype) -> None:
    """Blocks of the update (optimizers.UPDATE_BLOCK) run the same operations on each element."""
    import nnscratch.optimizers as optimizers

    rng = np.random.default_rng(3)
    p0 = {"w": rng.standard_normal((301, 337)).astype(dtype), "b": rng.standard_normal(77).astype(dtype),
          "strided": rng.standard_normal((200, 400)).astype(dtype)[:, ::2]}  # not contiguous: whole
    grads = [{k: rng.standard_normal(v.shape).astype(dtype) for k, v in p0.items()} for _ in range(4)]

    def run(block: int) -> dict[str, np.ndarray]:
        monkeypatch.setattr(optimizers, "UPDATE_BLOCK", block)
        p = {k: v.copy() for k, v in p0.items()}
        opt = Adam(lr=0.01)
        for g in grads:
            opt.update(p, g)
        return p

    whole, blocked = run(10**9), run(1000)
    assert len(optimizers.in_blocks(*[np.zeros((301, 337))] * 4)) == 102  # 101 437 elements in blocks of 1 000
    for k in p0:
        np.testing.assert_array_equal(blocked[k], whole[k], err_msg=k)
        assert blocked[k].dtype == dtype
